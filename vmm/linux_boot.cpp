// The bzImage loader: header checks, RAM layout and boot_params.
#include "vmm/linux_boot.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace vpio {
namespace {

using namespace linux_boot;

template <typename T>
T load(std::span<const std::uint8_t> bytes, std::size_t at) {
  T value{};
  std::memcpy(&value, bytes.data() + at, sizeof value);
  return value;
}

template <typename T>
void store(std::span<std::uint8_t> bytes, std::size_t at, T value) {
  std::memcpy(bytes.data() + at, &value, sizeof value);
}

constexpr std::uint8_t kElfMagic[] = {0x7f, 'E', 'L', 'F'};
constexpr std::uint8_t kHeaderMagicBytes[] = {'H', 'd', 'r', 'S'};
constexpr std::size_t kSectorBytes = 512;
// A setup_sects of 0 means 4, for the oldest kernels' sake.
constexpr std::uint8_t kDefaultSetupSects = 4;

std::uint64_t align_up(std::uint64_t value, std::uint64_t alignment) {
  return alignment == 0 ? value : (value + alignment - 1) / alignment * alignment;
}

// "80 MiB" (rounded up).
std::string mib(std::uint64_t bytes) {
  return std::to_string((bytes + (1ULL << 20) - 1) >> 20) + " MiB";
}

}  // namespace

ImageKind classify_image(std::span<const std::uint8_t> image, const std::string& path) {
  if (image.size() >= kHeaderMagic + sizeof kHeaderMagicBytes &&
      load<std::uint16_t>(image, kBootFlag) == kBootFlagValue &&
      std::memcmp(image.data() + kHeaderMagic, kHeaderMagicBytes, sizeof kHeaderMagicBytes) == 0)
    return ImageKind::linux_kernel;
  if (image.size() >= sizeof kElfMagic &&
      std::memcmp(image.data(), kElfMagic, sizeof kElfMagic) == 0)
    throw std::invalid_argument(
        "image '" + path +
        "' is an ELF file, neither a flat image nor a bzImage: give a test guest as its flat "
        ".img (objcopy -O binary), a Linux kernel as its bzImage (arch/x86/boot/bzImage, "
        "/boot/vmlinuz-*), not vmlinux");
  return ImageKind::flat;
}

std::string protocol_text(std::uint16_t version) {
  char text[16];
  std::snprintf(text, sizeof text, "%u.%02u", version >> 8, version & 0xffu);
  return text;
}

BzImage parse_bzimage(std::span<const std::uint8_t> image, const std::string& path) {
  const std::string kernel = "kernel '" + path + "'";
  if (image.size() < kJump + 2)
    throw std::invalid_argument(kernel + " is truncated inside its setup header");
  BzImage header;
  header.header_end = kHeaderMagic + image[kJump + 1];
  // Every field read below lies before the end of a 2.12 header (0x248).
  constexpr std::size_t kLastFieldEnd = kInitSize + 4;
  header.protocol = image.size() >= kVersion + 2 ? load<std::uint16_t>(image, kVersion) : 0;
  if (header.protocol < kMinProtocol)
    throw std::invalid_argument(kernel + " uses boot protocol " + protocol_text(header.protocol) +
                                "; vpio needs " + protocol_text(kMinProtocol) +
                                " or later (Linux 3.8 and later), the first to say whether a "
                                "kernel has a 64-bit entry point");
  std::uint8_t sects = image[kSetupSects];
  if (sects == 0) sects = kDefaultSetupSects;
  header.setup_bytes = (std::size_t{sects} + 1) * kSectorBytes;
  if (image.size() < std::max({header.header_end, kLastFieldEnd, header.setup_bytes}) ||
      header.header_end > header.setup_bytes)
    throw std::invalid_argument(
        kernel + " is truncated: its setup header promises " + std::to_string(header.setup_bytes) +
        " bytes of setup code, the file has " + std::to_string(image.size()) + " bytes");
  if (image.size() == header.setup_bytes)
    throw std::invalid_argument(kernel + " holds setup code but no kernel after it");
  header.loadflags = image[kLoadFlags];
  header.xloadflags = load<std::uint16_t>(image, kXLoadFlags);
  header.initrd_addr_max = load<std::uint32_t>(image, kInitrdAddrMax);
  header.kernel_alignment = load<std::uint32_t>(image, kKernelAlignment);
  header.relocatable = image[kRelocatableKernel] != 0;
  header.cmdline_size = load<std::uint32_t>(image, kCmdlineSize);
  header.pref_address = load<std::uint64_t>(image, kPrefAddress);
  header.init_size = load<std::uint32_t>(image, kInitSize);
  if ((header.loadflags & kLoadedHigh) == 0)
    throw std::invalid_argument(kernel +
                                " is a zImage (loaded below 1 MiB); vpio boots bzImages only");
  if ((header.xloadflags & kXlfKernel64) == 0)
    throw std::invalid_argument(kernel +
                                " has no 64-bit entry point (xloadflags lacks XLF_KERNEL_64): "
                                "a 32-bit kernel, which vpio does not boot");
  return header;
}

std::string linux_command_line(const std::string& append, unsigned guest_index) {
  std::string line = append;
  if (!line.empty() && line.back() != ' ') line += ' ';
  return line + "vpio.guest=" + std::to_string(guest_index);
}

std::vector<E820Entry> linux_e820_map(std::uint64_t ram_bytes) {
  return {
      {0, kReservedStart, E820Entry::kRam},
      {kReservedStart, kReservedEnd - kReservedStart, E820Entry::kReserved},
      {kReservedEnd, kMpTableStart - kReservedEnd, E820Entry::kRam},
      {kMpTableStart, kLowRamEnd - kMpTableStart, E820Entry::kReserved},
      {kKernelLoad, ram_bytes - kKernelLoad, E820Entry::kRam},
  };
}

LinuxLayout plan_linux_layout(const BzImage& header, std::size_t kernel_file_bytes,
                              std::size_t initrd_bytes, std::size_t command_line_bytes,
                              std::uint64_t ram_bytes, const std::string& kernel_path,
                              const std::string& initrd_path) {
  LinuxLayout layout;
  layout.kernel_bytes = kernel_file_bytes - header.setup_bytes;
  layout.entry = layout.kernel_at + kEntryOffset64;
  // As the kernel's own entry code (arch/x86/boot/compressed/head_64.S)
  // decides where it decompresses itself.
  layout.run_at = header.relocatable ? align_up(layout.kernel_at, header.kernel_alignment) : 0;
  layout.run_at = std::max(layout.run_at, header.pref_address);
  layout.ram_needed =
      std::max(layout.kernel_at + layout.kernel_bytes, layout.run_at + header.init_size);
  if (layout.ram_needed > ram_bytes)
    throw std::invalid_argument(
        "kernel '" + kernel_path + "' needs at least " + mib(layout.ram_needed) +
        " of RAM (it decompresses itself into " + mib(header.init_size) + " from " +
        mib(layout.run_at) + " on); the guest has " + mib(ram_bytes) + ": give --ram " +
        std::to_string((layout.ram_needed + (1ULL << 20) - 1) >> 20) + " or more");
  const std::uint64_t limit =
      std::min(kCommandLineMaxBytes - 1, std::uint64_t{header.cmdline_size});
  if (command_line_bytes > limit)
    throw std::invalid_argument("--append: the command line of kernel '" + kernel_path + "' is " +
                                std::to_string(command_line_bytes) + " bytes with vpio.guest=N; " +
                                "at most " + std::to_string(limit) + " fit");
  layout.command_line_bytes = command_line_bytes;
  if (initrd_bytes > 0) {
    const std::uint64_t top = std::min(ram_bytes, std::uint64_t{header.initrd_addr_max} + 1);
    if (initrd_bytes > top ||
        (top - initrd_bytes) / kInitrdAlignment * kInitrdAlignment < layout.ram_needed)
      throw std::invalid_argument(
          "--initrd '" + initrd_path + "' (" + mib(initrd_bytes) +
          ") does not fit beside kernel '" + kernel_path + "', which needs RAM up to " +
          mib(layout.ram_needed) + "; the guest has " + mib(ram_bytes) + ": give --ram " +
          std::to_string((layout.ram_needed + initrd_bytes + kInitrdAlignment + (1ULL << 20) - 1) >>
                         20) +
          " or more");
    layout.initrd_at = (top - initrd_bytes) / kInitrdAlignment * kInitrdAlignment;
    layout.initrd_bytes = initrd_bytes;
  }
  return layout;
}

void write_linux_boot(GuestMemory& memory, std::span<const std::uint8_t> kernel,
                      const BzImage& header, const LinuxLayout& layout,
                      std::span<const std::uint8_t> initrd, const std::string& command_line) {
  auto place = [&memory](std::uint64_t at, std::span<const std::uint8_t> bytes, const char* what) {
    auto to = memory.bytes(at, bytes.size());
    if (to.size() != bytes.size())
      throw std::invalid_argument(std::string("the ") + what + " does not fit in guest RAM");
    std::memcpy(to.data(), bytes.data(), bytes.size());
  };
  place(layout.kernel_at, kernel.subspan(header.setup_bytes, layout.kernel_bytes), "kernel");
  if (layout.initrd_bytes > 0) place(layout.initrd_at, initrd.first(layout.initrd_bytes), "initrd");
  const auto line = std::span(reinterpret_cast<const std::uint8_t*>(command_line.c_str()),
                              command_line.size() + 1);
  place(kCommandLine, line, "command line");

  // A fresh zero page with the image's setup header in it: the kernel
  // zeroes parts of boot_params it finds copied from elsewhere (sentinel).
  auto params = memory.bytes(kBootParams, kBootParamsBytes);
  if (params.empty()) throw std::invalid_argument("guest RAM too small for boot_params");
  std::memset(params.data(), 0, params.size());
  std::memcpy(params.data() + kSetupSects, kernel.data() + kSetupSects,
              header.header_end - kSetupSects);
  params[kTypeOfLoader] = kLoaderUndefined;
  store<std::uint32_t>(params, kCmdLinePtr, static_cast<std::uint32_t>(kCommandLine));
  store<std::uint32_t>(params, kRamdiskImage, static_cast<std::uint32_t>(layout.initrd_at));
  store<std::uint32_t>(params, kRamdiskSize, static_cast<std::uint32_t>(layout.initrd_bytes));
  const auto map = linux_e820_map(memory.size());
  params[kE820Entries] = static_cast<std::uint8_t>(map.size());
  constexpr std::size_t kE820EntryBytes = 20;
  for (std::size_t i = 0; i < map.size(); ++i) {
    const std::size_t at = kE820Table + i * kE820EntryBytes;
    store(params, at, map[i].address);
    store(params, at + 8, map[i].bytes);
    store(params, at + 16, map[i].type);
  }
}

std::vector<std::uint8_t> read_whole_file(const std::string& path, const char* what) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0)
    throw std::invalid_argument(std::string(what) + " '" + path + "': " + std::strerror(errno));
  if (!S_ISREG(info.st_mode))
    throw std::invalid_argument(std::string(what) + " '" + path + "' is not a regular file");
  std::ifstream in(path, std::ios::binary);
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(info.st_size));
  if (!in || !in.read(reinterpret_cast<char*>(bytes.data()), info.st_size))
    throw std::invalid_argument(std::string("cannot read ") + what + " '" + path + "'" +
                                (errno != 0 ? std::string(": ") + std::strerror(errno) : ""));
  return bytes;
}

}  // namespace vpio
