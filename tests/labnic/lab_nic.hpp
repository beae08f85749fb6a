// Tests against a card vpio did not write: QEMU's NE2000 inside the KVM lab.
// These run on the host, outside the lab. Each boots the lab with the card
// (lab/kvm-lab --nic), its wire recorded by QEMU to a pcap file here and
// joined to a UDP socket here, and plays the outside world on that socket.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "net/hub.hpp"
#include "net/udp_wire.hpp"

namespace vpio::test {

inline std::string build_path(const std::string& relative) {
  return std::string(VPIO_BUILD_DIR) + "/" + relative;
}

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A UDP port on 127.0.0.1 that nobody holds now (for QEMU's end of the wire).
inline std::uint16_t free_udp_port() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    ::close(fd);
    throw std::system_error(err, std::generic_category(), "bind 127.0.0.1:0");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// One boot of the lab running `command` in the build directory (the lab's
// writable share), its output going to a log file that can be watched while
// it runs.
class LabProcess {
 public:
  // `timeout`: how long the lab may run before it is killed (its exit 124).
  LabProcess(const std::vector<std::string>& lab_options, const std::vector<std::string>& command,
             std::filesystem::path log, std::chrono::seconds timeout = std::chrono::seconds(900))
      : log_(std::move(log)) {
    // One rerun if the lab VM freezes (QEMU's TCG, docs/lab.md): the lab
    // names the freeze on stderr, which is this log.
    std::vector<std::string> args = {std::string(VPIO_SOURCE_DIR) + "/lab/kvm-lab", "--timeout",
                                     std::to_string(timeout.count()), "--freeze-retries", "1"};
    args.insert(args.end(), lab_options.begin(), lab_options.end());
    args.emplace_back("--");
    args.insert(args.end(), command.begin(), command.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int out = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) throw std::system_error(errno, std::generic_category(), "open " + log_.string());
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
      if (::chdir(VPIO_BUILD_DIR) != 0) ::_exit(125);
      ::setenv("VPIO_IN_LAB", "1", 1);
      ::execv(argv[0], argv.data());
      ::_exit(125);
    }
    ::close(out);
    if (pid_ < 0) throw std::system_error(errno, std::generic_category(), "fork");
  }
  LabProcess(const LabProcess&) = delete;
  LabProcess& operator=(const LabProcess&) = delete;
  ~LabProcess() {
    if (pid_ > 0 && status_ < 0) {
      ::kill(pid_, SIGTERM);  // the lab stops its VM on TERM
      wait();
    }
  }

  std::string output() const { return read_text(log_); }

  // Waits until the output holds every one of `texts` (true), or the lab
  // ends or `timeout` passes first (false).
  bool wait_for_output(const std::vector<std::string>& texts, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string text = output();
      bool all = true;
      for (const auto& t : texts) all = all && text.find(t) != std::string::npos;
      if (all) return true;
      if (finished()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  // The lab's exit status (the command's, or 124/125 for the lab's own
  // failures); -1 if it did not exit normally.
  int wait() {
    if (status_ >= 0) return status_;
    int raw = 0;
    while (::waitpid(pid_, &raw, 0) < 0 && errno == EINTR) {
    }
    status_ = WIFEXITED(raw) ? WEXITSTATUS(raw) : 256;
    return status_ == 256 ? -1 : status_;
  }

 private:
  bool finished() {
    if (status_ >= 0) return true;
    int raw = 0;
    if (::waitpid(pid_, &raw, WNOHANG) != pid_) return false;
    status_ = WIFEXITED(raw) ? WEXITSTATUS(raw) : 256;
    return true;
  }

  std::filesystem::path log_;
  pid_t pid_ = -1;
  int status_ = -1;
};

// The outside of the card's wire: a hub here joined to QEMU's UDP socket,
// where test endpoints attach.
class OutsideWire {
 public:
  OutsideWire()
      : qemu_port_(free_udp_port()),
        udp_({"127.0.0.1", 0}, {"127.0.0.1", qemu_port_}),
        port_(hub_.attach(udp_, "udp")) {
    udp_.start(port_);
  }
  OutsideWire(const OutsideWire&) = delete;
  OutsideWire& operator=(const OutsideWire&) = delete;
  ~OutsideWire() { udp_.stop(); }

  net::Hub& hub() noexcept { return hub_; }
  net::UdpWire& udp() noexcept { return udp_; }
  // The lab's --nic keys that join the card's wire to this one.
  std::string nic_keys() const {
    return "udp=127.0.0.1:" + std::to_string(udp_.local_port()) +
           ",local=127.0.0.1:" + std::to_string(qemu_port_);
  }

 private:
  std::uint16_t qemu_port_;
  net::Hub hub_;
  net::UdpWire udp_;
  net::HubPort& port_;
};

// QEMU's RTL8139 as the lab gets it: behind the lab's IOMMU, bound to
// vfio-pci at 0000:00:10.0, its wire recorded to DIR/wire.pcap and joined
// to `wire`.
inline std::string vfio_card_option(const std::filesystem::path& dir, const OutsideWire& wire) {
  return "rtl8139,pcap=" + (dir / "wire.pcap").string() + "," + wire.nic_keys();
}

// The IOMMU faults the lab kernel logged (DMAR lines naming a fault).
inline std::vector<std::string> iommu_faults(const std::string& dmesg) {
  std::vector<std::string> faults;
  std::istringstream in(dmesg);
  for (std::string line; std::getline(in, line);)
    if (line.find("DMAR") != std::string::npos && line.find("fault") != std::string::npos)
      faults.push_back(line);
  return faults;
}

// A directory of the build tree (visible to the lab) for one test's files.
inline std::filesystem::path test_dir() {
  const auto* info = testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "." + info->name();
  for (char& c : name)
    if (c == '/') c = '_';
  std::filesystem::path dir = std::filesystem::path(VPIO_BUILD_DIR) / "labnic" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace vpio::test
