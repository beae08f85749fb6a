// A PCI function reached through VFIO: see vfio_device.hpp.
#include "hw/vfio_device.hpp"

#include <fcntl.h>
#include <linux/vfio.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <stdexcept>
#include <system_error>

#include "hw/hex.hpp"
#include "hw/memory_mapped.hpp"

namespace vpio::hw {
namespace {

namespace fs = std::filesystem;

constexpr std::uint16_t kPciCommand = 0x04;
constexpr std::uint16_t kCommandIo = 0x1;
constexpr std::uint16_t kCommandMemory = 0x2;
constexpr std::uint16_t kCommandBusMaster = 0x4;
constexpr std::uint8_t kPciBar0 = 0x10;
constexpr std::uint32_t kBarIsIo = 0x1;
constexpr unsigned kBars = 6;
// How long an interrupt stays masked with no access that may have
// acknowledged it before it is unmasked anyway.
constexpr int kUnmaskAfterMs = 5;

// "10ec:8139".
std::string pci_id(std::uint16_t vendor, std::uint16_t device) {
  char text[10];
  std::snprintf(text, sizeof text, "%04x:%04x", vendor, device);
  return text;
}

[[noreturn]] void fail(const std::string& what, int err = errno) {
  throw std::system_error(err, std::generic_category(), what);
}

}  // namespace

// "0000:00:04.0", also from "00:04.0".
std::string VfioDevice::canonical_address(const std::string& given) {
  static const std::regex full("[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-1][0-9a-fA-F]\\.[0-7]");
  static const std::regex short_form("[0-9a-fA-F]{2}:[0-1][0-9a-fA-F]\\.[0-7]");
  std::string address = given;
  if (std::regex_match(address, short_form)) address = "0000:" + address;
  if (!std::regex_match(address, full))
    throw std::invalid_argument("'" + given +
                                "' is not a PCI address (expected DDDD:BB:DD.F, e.g. 0000:00:04.0)");
  for (char& c : address) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return address;
}

namespace {

std::string link_name(const fs::path& link) {
  std::error_code ec;
  const fs::path target = fs::read_symlink(link, ec);
  return ec ? std::string() : target.filename().string();
}

base::OwnedFd open_or_throw(const std::string& path, const std::string& what) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) fail("cannot open " + path + " (" + what + ")");
  return base::OwnedFd(fd);
}

void set_irq(int device, std::uint32_t flags, std::uint32_t count, int event) {
  // vfio_irq_set ends in its data: here one eventfd, or nothing.
  alignas(vfio_irq_set) std::uint8_t request[sizeof(vfio_irq_set) + sizeof(std::int32_t)] = {};
  vfio_irq_set set{};
  set.argsz = static_cast<std::uint32_t>(
      sizeof set + ((flags & VFIO_IRQ_SET_DATA_EVENTFD) != 0 ? sizeof(std::int32_t) : 0));
  set.flags = flags;
  set.index = VFIO_PCI_INTX_IRQ_INDEX;
  set.start = 0;
  set.count = count;
  std::memcpy(request, &set, sizeof set);
  const std::int32_t fd = event;
  std::memcpy(request + sizeof set, &fd, sizeof fd);
  if (::ioctl(device, VFIO_DEVICE_SET_IRQS, request) != 0)
    fail("VFIO_DEVICE_SET_IRQS (the function's INTx)");
}

}  // namespace

VfioDevice::VfioDevice(const std::string& given) : address_(canonical_address(given)) {
  const fs::path sys = fs::path("/sys/bus/pci/devices") / address_;
  if (!fs::exists(sys)) throw std::invalid_argument("no PCI device " + address_ + " on this host");
  const std::string driver = link_name(sys / "driver");
  if (driver != "vfio-pci")
    throw std::invalid_argument(
        "PCI device " + address_ + " is " +
        (driver.empty() ? std::string("bound to no driver") : "bound to " + driver) +
        ", not vfio-pci (echo vfio-pci > " + (sys / "driver_override").string() +
        "; echo " + address_ + " > /sys/bus/pci/drivers_probe)");
  const std::string group = link_name(sys / "iommu_group");
  if (group.empty())
    throw std::invalid_argument("PCI device " + address_ +
                                " is in no IOMMU group (no IOMMU: intel_iommu=on or amd_iommu=on?)");

  container_ = open_or_throw("/dev/vfio/vfio", "the VFIO container");
  if (::ioctl(container_.get(), VFIO_GET_API_VERSION) != VFIO_API_VERSION)
    throw std::invalid_argument("/dev/vfio/vfio speaks another VFIO API version");
  if (::ioctl(container_.get(), VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) != 1)
    throw std::invalid_argument("VFIO here has no type-1 IOMMU (load vfio_iommu_type1)");
  group_ = open_or_throw("/dev/vfio/" + group, "IOMMU group " + group + " of " + address_);
  vfio_group_status status{};
  status.argsz = sizeof status;
  if (::ioctl(group_.get(), VFIO_GROUP_GET_STATUS, &status) != 0)
    fail("VFIO_GROUP_GET_STATUS (IOMMU group " + group + ")");
  if ((status.flags & VFIO_GROUP_FLAGS_VIABLE) == 0)
    throw std::invalid_argument("IOMMU group " + group + " of " + address_ +
                                " holds devices not bound to vfio-pci (bind them all, or none)");
  int container_fd = container_.get();
  if (::ioctl(group_.get(), VFIO_GROUP_SET_CONTAINER, &container_fd) != 0)
    fail("VFIO_GROUP_SET_CONTAINER (IOMMU group " + group + ")");
  if (::ioctl(container_.get(), VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU) != 0) {
    if (errno == EPERM)
      throw std::invalid_argument(
          "VFIO refused the IOMMU for " + address_ +
          ": the host has no interrupt remapping (load vfio_iommu_type1 with "
          "allow_unsafe_interrupts=1 if you accept that)");
    fail("VFIO_SET_IOMMU (type 1) for " + address_);
  }
  const int fd = ::ioctl(group_.get(), VFIO_GROUP_GET_DEVICE_FD, address_.c_str());
  if (fd < 0) fail("VFIO_GROUP_GET_DEVICE_FD " + address_);
  device_fd_ = base::OwnedFd(fd);

  vfio_device_info info{};
  info.argsz = sizeof info;
  if (::ioctl(device_fd_.get(), VFIO_DEVICE_GET_INFO, &info) != 0)
    fail("VFIO_DEVICE_GET_INFO " + address_);
  if ((info.flags & VFIO_DEVICE_FLAGS_PCI) == 0)
    throw std::invalid_argument(address_ + " is not a PCI device to VFIO");
  if ((info.flags & VFIO_DEVICE_FLAGS_RESET) != 0) ::ioctl(device_fd_.get(), VFIO_DEVICE_RESET);

  vfio_region_info config{};
  config.argsz = sizeof config;
  config.index = VFIO_PCI_CONFIG_REGION_INDEX;
  if (::ioctl(device_fd_.get(), VFIO_DEVICE_GET_REGION_INFO, &config) != 0)
    fail("VFIO_DEVICE_GET_REGION_INFO (configuration space of " + address_ + ")");
  const Region config_space{config.offset, static_cast<std::uint32_t>(config.size)};
  vendor_ = static_cast<std::uint16_t>(access_read(config_space, 0, 2, "vendor ID"));
  device_ = static_cast<std::uint16_t>(access_read(config_space, 2, 2, "device ID"));

  for (unsigned bar = 0; bar < kBars && bar < info.num_regions; ++bar) {
    vfio_region_info region{};
    region.argsz = sizeof region;
    region.index = VFIO_PCI_BAR0_REGION_INDEX + bar;
    if (::ioctl(device_fd_.get(), VFIO_DEVICE_GET_REGION_INFO, &region) != 0 || region.size == 0)
      continue;
    const bool io = (access_read(config_space, kPciBar0 + 4 * bar, 4, "BAR") & kBarIsIo) != 0;
    Region& slot = io ? io_ : mmio_;
    if (slot.size == 0 && region.size <= 0x10000)
      slot = {region.offset, static_cast<std::uint32_t>(region.size)};
  }
  if (io_.size == 0)
    throw std::invalid_argument("PCI device " + address_ + " (" + pci_id(vendor_, device_) + ") has no I/O BAR for its port window");
  const auto command = access_read(config_space, kPciCommand, 2, "command register");
  access_write(config_space, kPciCommand, 2,
               command | kCommandIo | kCommandMemory | kCommandBusMaster, "command register");

  vfio_irq_info irq{};
  irq.argsz = sizeof irq;
  irq.index = VFIO_PCI_INTX_IRQ_INDEX;
  if (::ioctl(device_fd_.get(), VFIO_DEVICE_GET_IRQ_INFO, &irq) != 0 || irq.count == 0)
    throw std::invalid_argument("PCI device " + address_ + " has no INTx for VFIO to deliver");
  irq_event_ = base::OwnedFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  stop_event_ = base::OwnedFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!irq_event_.valid() || !stop_event_.valid()) fail("eventfd (interrupts of " + address_ + ")");
  set_irq(device_fd_.get(), VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, 1,
          irq_event_.get());
  irq_thread_ = std::thread([this] { interrupt_thread(); });
}

VfioDevice::~VfioDevice() {
  const std::uint64_t one = 1;
  if (::write(stop_event_.get(), &one, sizeof one) < 0) {
    // The thread then ends at its next wakeup; nothing more to do.
  }
  if (irq_thread_.joinable()) irq_thread_.join();
  try {
    set_irq(device_fd_.get(), VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0, -1);
  } catch (const std::system_error&) {
    // Closing the device file below releases its interrupt all the same.
  }
  std::lock_guard lock(dma_mutex_);
  if (bus_ != nullptr) bus_->mirror_into(nullptr);
  unmap_all();
}

std::string VfioDevice::describe() const {
  return "PCI device " + address_ + " (" + pci_id(vendor_, device_) + ") by VFIO";
}

std::uint32_t VfioDevice::access_read(const Region& region, std::uint64_t offset, unsigned size,
                                      const char* what) {
  std::uint32_t value = 0;
  if (::pread(device_fd_.get(), &value, size, static_cast<off_t>(region.offset + offset)) !=
      static_cast<ssize_t>(size))
    fail(std::string("reading the ") + what + " of " + address_ + " at " + hex(offset));
  return value;
}

void VfioDevice::access_write(const Region& region, std::uint64_t offset, unsigned size,
                              std::uint64_t value, const char* what) {
  if (::pwrite(device_fd_.get(), &value, size, static_cast<off_t>(region.offset + offset)) !=
      static_cast<ssize_t>(size))
    fail(std::string("writing the ") + what + " of " + address_ + " at " + hex(offset));
}

std::uint32_t VfioDevice::read(std::uint16_t offset, unsigned size) {
  if (offset + size > io_.size) return size >= 4 ? ~0u : (1u << (8 * size)) - 1;
  return access_read(io_, offset, size, "I/O BAR");
}

void VfioDevice::write(std::uint16_t offset, unsigned size, std::uint32_t value) {
  if (offset + size > io_.size) return;
  access_write(io_, offset, size, value, "I/O BAR");
  unmask_if_masked();
}

void VfioDevice::read_string(std::uint16_t offset, unsigned size, std::span<std::uint8_t> data) {
  for (std::size_t at = 0; at + size <= data.size(); at += size) {
    const std::uint32_t value = read(offset, size);
    std::memcpy(data.data() + at, &value, size);
  }
}

void VfioDevice::write_string(std::uint16_t offset, unsigned size,
                              std::span<const std::uint8_t> data) {
  for (std::size_t at = 0; at + size <= data.size(); at += size) {
    std::uint32_t value = 0;
    std::memcpy(&value, data.data() + at, size);
    write(offset, size, value);
  }
}

std::uint64_t VfioDevice::mmio_read(std::uint32_t offset, unsigned size) {
  if (size > 4 || offset + size > mmio_.size) return MemoryMapped::mmio_read(offset, size);
  return access_read(mmio_, offset, size, "memory BAR");
}

void VfioDevice::mmio_write(std::uint32_t offset, unsigned size, std::uint64_t value) {
  if (size > 4 || offset + size > mmio_.size) return;
  access_write(mmio_, offset, size, value, "memory BAR");
  unmask_if_masked();
}

void VfioDevice::set_interrupt_handler(std::function<void()> handler) {
  std::lock_guard lock(irq_mutex_);
  handler_ = std::move(handler);
}

void VfioDevice::unmask_if_masked() {
  if (!masked_.exchange(false)) return;
  ++unmasks_;
  set_irq(device_fd_.get(), VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK, 1, -1);
}

void VfioDevice::interrupt_thread() {
  pollfd fds[2] = {{irq_event_.get(), POLLIN, 0}, {stop_event_.get(), POLLIN, 0}};
  for (;;) {
    const int n = ::poll(fds, 2, masked_.load() ? kUnmaskAfterMs : -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || (fds[1].revents & POLLIN) != 0) return;
    if (n == 0) {  // masked, and nothing acknowledged it for a while
      try {
        unmask_if_masked();
      } catch (const std::system_error&) {
        return;  // VFIO refuses the device: no more interrupts come from it
      }
      continue;
    }
    std::uint64_t fired = 0;
    if (::read(irq_event_.get(), &fired, sizeof fired) != sizeof fired) continue;
    // VFIO masked the line as it fired.
    masked_.store(true);
    ++interrupts_;
    std::lock_guard lock(irq_mutex_);
    if (handler_) handler_();
  }
}

void VfioDevice::map_window(std::uint64_t address, std::span<std::uint8_t> host) {
  const auto vaddr = reinterpret_cast<std::uintptr_t>(host.data());
  if (address % kMmioPageBytes != 0 || vaddr % kMmioPageBytes != 0)
    throw std::invalid_argument("a DMA window for " + address_ + " at " + hex(address) +
                                " is not page-aligned; the IOMMU maps whole pages");
  const std::uint64_t bytes = (host.size() + kMmioPageBytes - 1) & ~std::uint64_t{kMmioPageBytes - 1};
  vfio_iommu_type1_dma_map map{};
  map.argsz = sizeof map;
  map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
  map.vaddr = vaddr;
  map.iova = address;
  map.size = bytes;
  if (::ioctl(container_.get(), VFIO_IOMMU_MAP_DMA, &map) != 0)
    fail("VFIO_IOMMU_MAP_DMA " + hex(bytes) + " bytes at " + hex(address) + " for " + address_);
  std::lock_guard lock(map_mutex_);
  mappings_.push_back({address, bytes});
}

void VfioDevice::unmap_all() {
  std::lock_guard lock(map_mutex_);
  for (const Mapping& m : mappings_) {
    vfio_iommu_type1_dma_unmap unmap{};
    unmap.argsz = sizeof unmap;
    unmap.iova = m.iova;
    unmap.size = m.bytes;
    ::ioctl(container_.get(), VFIO_IOMMU_UNMAP_DMA, &unmap);  // nothing to do if it fails
  }
  mappings_.clear();
}

void VfioDevice::set_dma_bus(DmaBus* bus) {
  std::lock_guard lock(dma_mutex_);
  if (bus_ != nullptr) bus_->mirror_into(nullptr);
  unmap_all();
  bus_ = nullptr;
  if (bus == nullptr) return;
  if (!bus->mirror_into(this)) {
    unmap_all();
    throw std::logic_error("the DMA bus given to " + address_ +
                           " has no windows to map in its IOMMU");
  }
  bus_ = bus;
}

std::vector<PhysicalDevice::Count> VfioDevice::counts() const {
  std::lock_guard lock(map_mutex_);
  return {{"interrupts", interrupts_.load()},
          {"unmasks", unmasks_.load()},
          {"iommu_windows", static_cast<std::uint64_t>(mappings_.size())}};
}

}  // namespace vpio::hw
