// Linux guests: telling a bzImage from a flat test image, and laying out a
// kernel, its initrd, command line and boot_params ("zero page") in guest RAM
// for the 64-bit boot protocol (Linux's Documentation/x86/boot.rst). Pure
// functions over bytes and GuestMemory: no KVM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "vmm/guest_memory.hpp"

namespace vpio {

namespace linux_boot {
// Where the setup header sits in a bzImage, and its fields used here.
inline constexpr std::size_t kSetupSects = 0x1f1;
inline constexpr std::size_t kBootFlag = 0x1fe;     // 0xaa55
inline constexpr std::size_t kJump = 0x200;         // its second byte ends the header
inline constexpr std::size_t kHeaderMagic = 0x202;  // "HdrS"
inline constexpr std::size_t kVersion = 0x206;
inline constexpr std::size_t kTypeOfLoader = 0x210;
inline constexpr std::size_t kLoadFlags = 0x211;
inline constexpr std::size_t kRamdiskImage = 0x218;
inline constexpr std::size_t kRamdiskSize = 0x21c;
inline constexpr std::size_t kCmdLinePtr = 0x228;
inline constexpr std::size_t kInitrdAddrMax = 0x22c;
inline constexpr std::size_t kKernelAlignment = 0x230;
inline constexpr std::size_t kRelocatableKernel = 0x234;
inline constexpr std::size_t kXLoadFlags = 0x236;
inline constexpr std::size_t kCmdlineSize = 0x238;
inline constexpr std::size_t kPrefAddress = 0x258;
inline constexpr std::size_t kInitSize = 0x260;
// boot_params outside the setup header.
inline constexpr std::size_t kE820Entries = 0x1e8;
inline constexpr std::size_t kE820Table = 0x2d0;
inline constexpr std::size_t kE820MaxEntries = 128;
inline constexpr std::size_t kBootParamsBytes = 0x1000;

inline constexpr std::uint16_t kBootFlagValue = 0xaa55;
inline constexpr std::uint8_t kLoadedHigh = 1u << 0;    // loadflags: a bzImage
inline constexpr std::uint16_t kXlfKernel64 = 1u << 0;  // xloadflags: 64-bit entry
inline constexpr std::uint8_t kLoaderUndefined = 0xff;  // type_of_loader
// 2.12 (Linux 3.8) added xloadflags, the only way a kernel says it has a
// 64-bit entry point; init_size and pref_address (2.10) come with it.
inline constexpr std::uint16_t kMinProtocol = 0x020c;
inline constexpr std::uint64_t kEntryOffset64 = 0x200;

// Guest-physical layout. vpio's GDT and page tables use 0x1000-0x7fff as
// for flat guests (vmm/long_mode.hpp); boot_params and the command line
// follow; the protected-mode kernel goes where bzImage loaders put it.
inline constexpr std::uint64_t kBootParams = 0x8000;
inline constexpr std::uint64_t kCommandLine = 0x9000;
inline constexpr std::uint64_t kCommandLineMaxBytes = 0x1000;  // with its NUL
inline constexpr std::uint64_t kReservedStart = 0x1000;
inline constexpr std::uint64_t kReservedEnd = 0xa000;
inline constexpr std::uint64_t kMpTableStart = 0x9fc00;  // vmm/mptable.hpp: the last KiB
inline constexpr std::uint64_t kLowRamEnd = 0xa0000;     // then the VGA/ROM hole
inline constexpr std::uint64_t kKernelLoad = 0x100000;
inline constexpr std::uint64_t kInitrdAlignment = 0x1000;
}  // namespace linux_boot

enum class ImageKind { flat, linux_kernel };

// A bzImage is told from a flat image by its setup header: the boot flag
// 0xAA55 at 0x1FE *and* "HdrS" at 0x202. Anything else is a flat image,
// except an ELF file (a vmlinux or a guest's .elf), which is neither and is
// refused: std::invalid_argument naming `path`.
ImageKind classify_image(std::span<const std::uint8_t> image, const std::string& path);

// The setup header's fields vpio needs.
struct BzImage {
  std::uint16_t protocol = 0;   // 0x020f is 2.15
  std::size_t setup_bytes = 0;  // the real-mode part; the kernel follows it
  std::size_t header_end = 0;   // boot_params copies [0x1f1, header_end)
  std::uint8_t loadflags = 0;
  std::uint16_t xloadflags = 0;
  std::uint32_t initrd_addr_max = 0;
  std::uint32_t kernel_alignment = 0;
  bool relocatable = false;
  std::uint32_t cmdline_size = 0;  // without the NUL
  std::uint64_t pref_address = 0;
  std::uint32_t init_size = 0;  // bytes the kernel needs from where it runs
};

// Reads and checks the header of an image classify_image() called Linux.
// Throws std::invalid_argument naming `path`: truncated, boot protocol older
// than 2.12, not loaded high (a zImage), no 64-bit entry point.
BzImage parse_bzimage(std::span<const std::uint8_t> image, const std::string& path);

// The protocol version as Linux writes it: "2.15".
std::string protocol_text(std::uint16_t version);

// "console=ttyS0 vpio.guest=1": the user's --append, then the guest's index
// among all guests on the command line.
std::string linux_command_line(const std::string& append, unsigned guest_index);

struct E820Entry {
  std::uint64_t address = 0;
  std::uint64_t bytes = 0;
  std::uint32_t type = 0;
  static constexpr std::uint32_t kRam = 1, kReserved = 2;
};

// The guest's memory map: RAM below 640 KiB except the pages vpio's boot data
// take (GDT, page tables, boot_params, command line: reserved) and its last
// KiB (the MP table: reserved), no entry for
// the VGA/ROM hole, RAM from 1 MiB to the end. The kernel and initrd lie in
// RAM, as every bzImage loader lists them; Linux reserves them itself.
std::vector<E820Entry> linux_e820_map(std::uint64_t ram_bytes);

// Where everything goes in RAM.
struct LinuxLayout {
  std::uint64_t kernel_at = linux_boot::kKernelLoad;
  std::uint64_t kernel_bytes = 0;  // the protected-mode part of the file
  std::uint64_t entry = 0;         // kernel_at + 0x200
  std::uint64_t run_at = 0;        // where the kernel decompresses itself and runs
  std::uint64_t ram_needed = 0;    // end of what the kernel needs
  std::uint64_t initrd_at = 0;
  std::uint64_t initrd_bytes = 0;
  std::uint64_t command_line_bytes = 0;  // without the NUL
};

// Checks that the kernel, initrd and command line fit and places them: the
// kernel at 1 MiB; it decompresses itself at pref_address (16 MiB for
// Debian's) or its load address rounded up to kernel_alignment, whichever is
// higher, into init_size bytes; the initrd at the top of RAM (below
// initrd_addr_max), above all that. Throws std::invalid_argument naming the
// files and the RAM it would take.
LinuxLayout plan_linux_layout(const BzImage& header, std::size_t kernel_file_bytes,
                              std::size_t initrd_bytes, std::size_t command_line_bytes,
                              std::uint64_t ram_bytes, const std::string& kernel_path,
                              const std::string& initrd_path);

// Writes the protected-mode kernel, the initrd, the command line and
// boot_params (the setup header copied from the image, type_of_loader 0xff,
// cmd_line_ptr, ramdisk_image/size, the e820 map) into `memory`.
void write_linux_boot(GuestMemory& memory, std::span<const std::uint8_t> kernel,
                      const BzImage& header, const LinuxLayout& layout,
                      std::span<const std::uint8_t> initrd, const std::string& command_line);

// A file read whole, with errors that name it and what it is for ("initrd").
std::vector<std::uint8_t> read_whole_file(const std::string& path, const char* what);

}  // namespace vpio
