// Linux guests without KVM: telling a bzImage from a flat image, the setup
// header's checks, the RAM layout, boot_params, the 16550A that is a Linux
// guest's console, and the KVM flavours that cannot boot Linux.
#include <gtest/gtest.h>

#include <cstring>
#include <sstream>

#include "kvm/kvm_identity.hpp"
#include "tests/support/lab_kernel.hpp"
#include "vmm/console.hpp"
#include "vmm/guest_memory.hpp"
#include "vmm/linux_boot.hpp"
#include "vmm/machine.hpp"

namespace vpio {
namespace {

using namespace linux_boot;

template <typename T>
void put(std::vector<std::uint8_t>& bytes, std::size_t at, T value) {
  std::memcpy(bytes.data() + at, &value, sizeof value);
}
template <typename T>
T get(std::span<const std::uint8_t> bytes, std::size_t at) {
  T value{};
  std::memcpy(&value, bytes.data() + at, sizeof value);
  return value;
}

struct SyntheticKernel {
  std::uint16_t protocol = 0x020f;
  std::uint16_t xloadflags = kXlfKernel64;
  std::uint8_t loadflags = kLoadedHigh;
  std::uint8_t setup_sects = 4;
  std::size_t kernel_bytes = 8192;
  std::uint32_t init_size = 8 << 20;
  std::uint64_t pref_address = 16 << 20;
  std::uint32_t cmdline_size = 2047;

  // A bzImage as far as its setup header goes; the protected-mode part is a
  // byte pattern.
  std::vector<std::uint8_t> bytes() const {
    const std::size_t setup = (std::size_t{setup_sects == 0 ? 4u : setup_sects} + 1) * 512;
    std::vector<std::uint8_t> image(setup + kernel_bytes);
    image[kSetupSects] = setup_sects;
    put<std::uint16_t>(image, kBootFlag, kBootFlagValue);
    image[kJump] = 0xeb;
    image[kJump + 1] = 0x6a;  // the header ends at 0x26c, as 2.15's does
    std::memcpy(image.data() + kHeaderMagic, "HdrS", 4);
    put(image, kVersion, protocol);
    image[kLoadFlags] = loadflags;
    put<std::uint32_t>(image, kInitrdAddrMax, 0x7fffffff);
    put<std::uint32_t>(image, kKernelAlignment, 0x200000);
    image[kRelocatableKernel] = 1;
    put(image, kXLoadFlags, xloadflags);
    put(image, kCmdlineSize, cmdline_size);
    put(image, kPrefAddress, pref_address);
    put(image, kInitSize, init_size);
    for (std::size_t i = setup; i < image.size(); ++i)
      image[i] = static_cast<std::uint8_t>(i * 7 + 1);
    return image;
  }
};

std::string message_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no std::invalid_argument thrown)";
}

TEST(LinuxImage, IsToldFromAFlatImageByBootFlagAndHeaderMagic) {
  const auto kernel = SyntheticKernel{}.bytes();
  EXPECT_EQ(classify_image(kernel, "k"), ImageKind::linux_kernel);
  // Either signature alone is a flat image's business.
  auto no_magic = kernel;
  no_magic[kHeaderMagic] = 'X';
  EXPECT_EQ(classify_image(no_magic, "k"), ImageKind::flat);
  auto no_flag = kernel;
  no_flag[kBootFlag] = 0;
  EXPECT_EQ(classify_image(no_flag, "k"), ImageKind::flat);
  // A flat guest: code from its first byte, shorter than a setup header.
  const std::vector<std::uint8_t> flat = {0xb8, 0x2a, 0, 0, 0, 0xba, 0xf4, 0, 0, 0, 0xef, 0xf4};
  EXPECT_EQ(classify_image(flat, "hello.img"), ImageKind::flat);
}

TEST(LinuxImage, AnElfFileIsNeitherAndIsRefusedByName) {
  std::vector<std::uint8_t> elf(4096);
  std::memcpy(elf.data(),
              "\x7f"
              "ELF",
              4);
  const std::string message = message_of([&] { classify_image(elf, "build/vmlinux"); });
  EXPECT_NE(message.find("'build/vmlinux' is an ELF file"), std::string::npos) << message;
  EXPECT_NE(message.find("bzImage"), std::string::npos) << message;
}

TEST(LinuxImage, ReadsTheSetupHeader) {
  const auto image = SyntheticKernel{}.bytes();
  const BzImage header = parse_bzimage(image, "k");
  EXPECT_EQ(header.protocol, 0x020f);
  EXPECT_EQ(header.setup_bytes, 5u * 512);
  EXPECT_EQ(header.header_end, 0x26cu);
  EXPECT_EQ(header.init_size, 8u << 20);
  EXPECT_EQ(header.pref_address, 16u << 20);
  EXPECT_EQ(header.cmdline_size, 2047u);
  EXPECT_TRUE(header.relocatable);
  SyntheticKernel zero_sects;
  zero_sects.setup_sects = 0;  // means 4
  auto bytes = zero_sects.bytes();
  EXPECT_EQ(parse_bzimage(bytes, "k").setup_bytes, 5u * 512);
}

TEST(LinuxImage, RefusesABootProtocolBefore2_12) {
  SyntheticKernel old;
  old.protocol = 0x020b;
  const auto image = old.bytes();
  const std::string message = message_of([&] { parse_bzimage(image, "old/bzImage"); });
  EXPECT_NE(message.find("kernel 'old/bzImage' uses boot protocol 2.11"), std::string::npos)
      << message;
  EXPECT_NE(message.find("needs 2.12 or later"), std::string::npos) << message;
}

TEST(LinuxImage, RefusesAKernelWithoutA64BitEntry) {
  SyntheticKernel thirty_two;
  thirty_two.xloadflags = 0;
  const auto image = thirty_two.bytes();
  const std::string message = message_of([&] { parse_bzimage(image, "i386/bzImage"); });
  EXPECT_NE(message.find("'i386/bzImage' has no 64-bit entry point"), std::string::npos) << message;
}

TEST(LinuxImage, RefusesAZImageAndATruncatedOne) {
  SyntheticKernel low;
  low.loadflags = 0;
  const auto zimage = low.bytes();
  EXPECT_NE(message_of([&] { parse_bzimage(zimage, "z"); }).find("zImage"), std::string::npos);
  auto truncated = SyntheticKernel{}.bytes();
  truncated.resize(3 * 512);
  const std::string message = message_of([&] { parse_bzimage(truncated, "cut"); });
  EXPECT_NE(message.find("kernel 'cut' is truncated"), std::string::npos) << message;
  truncated.resize(5 * 512);  // setup code, nothing after it
  EXPECT_NE(message_of([&] { parse_bzimage(truncated, "cut"); }).find("no kernel after it"),
            std::string::npos);
}

TEST(LinuxLayoutPlan, KernelAt1MiBRunsAtPrefAddressInitrdAtTheTop) {
  const auto image = SyntheticKernel{}.bytes();
  const BzImage header = parse_bzimage(image, "k");
  const LinuxLayout layout =
      plan_linux_layout(header, image.size(), 100'000, 20, 64 << 20, "k", "i");
  EXPECT_EQ(layout.kernel_at, 0x100000u);
  EXPECT_EQ(layout.entry, 0x100200u);
  EXPECT_EQ(layout.kernel_bytes, 8192u);
  EXPECT_EQ(layout.run_at, 16u << 20);
  EXPECT_EQ(layout.ram_needed, 24u << 20);
  EXPECT_EQ(layout.initrd_bytes, 100'000u);
  EXPECT_EQ(layout.initrd_at % kInitrdAlignment, 0u);
  EXPECT_LE(layout.initrd_at + layout.initrd_bytes, 64u << 20);
  EXPECT_GT(layout.initrd_at + layout.initrd_bytes + kInitrdAlignment, 64u << 20);
  // Below initrd_addr_max when RAM reaches past it.
  const LinuxLayout big =
      plan_linux_layout(header, image.size(), 4096, 20, 3072ULL << 20, "k", "i");
  EXPECT_LE(big.initrd_at + big.initrd_bytes, 0x80000000u);
}

TEST(LinuxLayoutPlan, RefusesAKernelLargerThanRam) {
  SyntheticKernel large;
  large.init_size = 60 << 20;
  const auto image = large.bytes();
  const BzImage header = parse_bzimage(image, "big");
  const std::string message =
      message_of([&] { plan_linux_layout(header, image.size(), 0, 10, 64 << 20, "big", ""); });
  EXPECT_NE(message.find("kernel 'big' needs at least 76 MiB of RAM"), std::string::npos)
      << message;
  EXPECT_NE(message.find("--ram 76"), std::string::npos) << message;
  EXPECT_NO_THROW(plan_linux_layout(header, image.size(), 0, 10, 76 << 20, "big", ""));
}

TEST(LinuxLayoutPlan, RefusesAnInitrdThatDoesNotFitBesideTheKernel) {
  const auto image = SyntheticKernel{}.bytes();
  const BzImage header = parse_bzimage(image, "k");
  const std::string message = message_of(
      [&] { plan_linux_layout(header, image.size(), 41 << 20, 10, 64 << 20, "k", "big.cpio"); });
  EXPECT_NE(message.find("--initrd 'big.cpio' (41 MiB) does not fit"), std::string::npos)
      << message;
  EXPECT_NO_THROW(plan_linux_layout(header, image.size(), 40 << 20, 10, 64 << 20, "k", "i"));
}

TEST(LinuxLayoutPlan, RefusesACommandLineLongerThanTheKernelTakes) {
  SyntheticKernel small_line;
  small_line.cmdline_size = 255;
  const auto image = small_line.bytes();
  const BzImage header = parse_bzimage(image, "k");
  EXPECT_NO_THROW(plan_linux_layout(header, image.size(), 0, 255, 64 << 20, "k", ""));
  const std::string message =
      message_of([&] { plan_linux_layout(header, image.size(), 0, 256, 64 << 20, "k", ""); });
  EXPECT_NE(message.find("is 256 bytes"), std::string::npos) << message;
  EXPECT_NE(message.find("at most 255"), std::string::npos) << message;
}

TEST(LinuxCommandLine, EndsWithTheGuestsIndex) {
  EXPECT_EQ(linux_command_line("console=ttyS0 quiet", 2), "console=ttyS0 quiet vpio.guest=2");
  EXPECT_EQ(linux_command_line("console=ttyS0 ", 0), "console=ttyS0 vpio.guest=0");
  EXPECT_EQ(linux_command_line("", 0), "vpio.guest=0");
}

TEST(LinuxE820, RamMinusVpiosBootDataAndTheLegacyHole) {
  const auto map = linux_e820_map(64 << 20);
  ASSERT_EQ(map.size(), 5u);
  EXPECT_EQ(map[0].address, 0u);
  EXPECT_EQ(map[0].type, E820Entry::kRam);
  EXPECT_EQ(map[1].address, 0x1000u);
  EXPECT_EQ(map[1].address + map[1].bytes, 0xa000u);  // GDT, page tables, boot_params, cmdline
  EXPECT_EQ(map[1].type, E820Entry::kReserved);
  EXPECT_GE(kCommandLine + kCommandLineMaxBytes, kBootParams + kBootParamsBytes);
  EXPECT_LE(kCommandLine + kCommandLineMaxBytes, map[1].address + map[1].bytes);
  EXPECT_EQ(map[2].address + map[2].bytes, 0x9fc00u);
  EXPECT_EQ(map[3].address, 0x9fc00u);  // the MP table
  EXPECT_EQ(map[3].address + map[3].bytes, 0xa0000u);
  EXPECT_EQ(map[3].type, E820Entry::kReserved);
  EXPECT_EQ(map[4].address, 0x100000u);
  EXPECT_EQ(map[4].address + map[4].bytes, 64u << 20);
  EXPECT_EQ(map[4].type, E820Entry::kRam);
}

TEST(LinuxBootParams, HoldTheHeaderTheLoadersFieldsAndTheMap) {
  const auto image = SyntheticKernel{}.bytes();
  const BzImage header = parse_bzimage(image, "k");
  const std::string line = "console=ttyS0 vpio.guest=1";
  std::vector<std::uint8_t> initrd(5000, 0xab);
  const LinuxLayout layout =
      plan_linux_layout(header, image.size(), initrd.size(), line.size(), 64 << 20, "k", "i");
  GuestMemory memory(64 << 20);
  write_linux_boot(memory, image, header, layout, initrd, line);

  const auto kernel = memory.bytes(0x100000, layout.kernel_bytes);
  EXPECT_TRUE(std::equal(kernel.begin(), kernel.end(), image.begin() + 5 * 512));
  const auto placed = memory.bytes(layout.initrd_at, initrd.size());
  EXPECT_TRUE(std::equal(placed.begin(), placed.end(), initrd.begin()));
  const auto text = memory.bytes(kCommandLine, line.size() + 1);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(text.data())), line);

  const std::span<const std::uint8_t> params = memory.bytes(kBootParams, kBootParamsBytes);
  EXPECT_EQ(std::memcmp(params.data() + kHeaderMagic, "HdrS", 4), 0);
  EXPECT_EQ(get<std::uint16_t>(params, kVersion), 0x020f);
  EXPECT_EQ(get<std::uint32_t>(params, kInitSize), 8u << 20);
  EXPECT_EQ(params[kTypeOfLoader], kLoaderUndefined);
  EXPECT_EQ(get<std::uint32_t>(params, kCmdLinePtr), kCommandLine);
  EXPECT_EQ(get<std::uint32_t>(params, kRamdiskImage), layout.initrd_at);
  EXPECT_EQ(get<std::uint32_t>(params, kRamdiskSize), 5000u);
  EXPECT_EQ(params[0x1ef], 0);  // the sentinel: a clean zero page
  ASSERT_EQ(params[kE820Entries], 5);
  const auto map = linux_e820_map(64 << 20);
  for (std::size_t i = 0; i < map.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(get<std::uint64_t>(params, kE820Table + 20 * i), map[i].address);
    EXPECT_EQ(get<std::uint64_t>(params, kE820Table + 20 * i + 8), map[i].bytes);
    EXPECT_EQ(get<std::uint32_t>(params, kE820Table + 20 * i + 16), map[i].type);
  }
  // Nothing of the image beyond its header is copied.
  EXPECT_EQ(params[header.header_end], 0);
}

// The kernel the KVM lab boots, if this machine's lab cache has it.
TEST(LinuxImage, DebiansKernelIsA64BitBzImageVpioCanLay) {
  const test::LabKernel kernel = test::find_lab_kernel();
  if (kernel.path.empty()) GTEST_SKIP() << kernel.why_absent;
  const auto image = read_whole_file(kernel.path, "kernel");
  ASSERT_EQ(classify_image(image, kernel.path), ImageKind::linux_kernel);
  const BzImage header = parse_bzimage(image, kernel.path);
  EXPECT_GE(header.protocol, kMinProtocol);
  EXPECT_TRUE(header.xloadflags & kXlfKernel64);
  EXPECT_GT(header.init_size, 0u);
  std::printf("[ kernel ] %s: protocol %s, init_size %u MiB, pref_address 0x%llx\n",
              kernel.path.c_str(), protocol_text(header.protocol).c_str(), header.init_size >> 20,
              static_cast<unsigned long long>(header.pref_address));
  // Default RAM is too little for it: refused, naming the RAM it needs.
  const std::string message = message_of(
      [&] { plan_linux_layout(header, image.size(), 0, 20, kDefaultRamBytes, kernel.path, ""); });
  EXPECT_NE(message.find("needs at least"), std::string::npos) << message;
  const LinuxLayout layout =
      plan_linux_layout(header, image.size(), 1 << 20, 20, 256 << 20, kernel.path, "i");
  GuestMemory memory(256 << 20);
  const std::vector<std::uint8_t> initrd(1 << 20, 1);
  write_linux_boot(memory, image, header, layout, initrd, "console=ttyS0 vpio.guest=0");
  EXPECT_EQ(std::memcmp(memory.bytes(0x100000, 64).data(), image.data() + header.setup_bytes, 64),
            0);
}

TEST(LinuxOnKvm, PvmCannotBootLinuxOthersAreNotRefused) {
  EXPECT_FALSE(linux_guest_obstacle("kvm_pvm").empty());
  EXPECT_FALSE(linux_guest_obstacle("kvm_amd+kvm_pvm").empty());
  EXPECT_TRUE(linux_guest_obstacle("kvm_amd").empty());
  EXPECT_TRUE(linux_guest_obstacle("kvm_intel").empty());
  EXPECT_TRUE(linux_guest_obstacle("kvm_pvmx").empty());
  EXPECT_TRUE(linux_guest_obstacle("").empty());
}

// The 16550A, driven as Linux's 8250 driver probes and uses it
// (drivers/tty/serial/8250/8250_port.c: autoconfig, serial8250_startup).
class UartTest : public testing::Test {
 protected:
  using Uart = hw::Uart16550;
  std::string sent_;
  std::vector<bool> irq_changes_;
  Uart uart_{[this](std::uint8_t byte) { sent_.push_back(static_cast<char>(byte)); },
             [this](bool level) { irq_changes_.push_back(level); }};
};

TEST_F(UartTest, PassesTheProbesOf8250Autoconfig) {
  // IER keeps exactly its low four bits.
  uart_.write(Uart::kIer, 0);
  EXPECT_EQ(uart_.read(Uart::kIer) & 0x0f, 0);
  uart_.write(Uart::kIer, 0x0f);
  EXPECT_EQ(uart_.read(Uart::kIer) & 0x0f, 0x0f);
  uart_.write(Uart::kIer, 0xff);
  EXPECT_EQ(uart_.read(Uart::kIer), 0x0f);  // no XScale UUE bit
  uart_.write(Uart::kIer, 0);
  // Scratch register.
  uart_.write(Uart::kScr, 0xa5);
  EXPECT_EQ(uart_.read(Uart::kScr), 0xa5);
  // Loopback: MCR LOOP|OUT2|RTS reads back as DCD|CTS.
  uart_.write(Uart::kMcr, Uart::kMcrLoop | 0x0a);
  EXPECT_EQ(uart_.read(Uart::kMsr) & 0xf0, 0x90);
  uart_.write(Uart::kMcr, 0);
  // A 16550A: FIFOs enabled show in IIR's top bits.
  EXPECT_EQ(uart_.read(Uart::kIirFcr), Uart::kIirNoInterrupt);
  uart_.write(Uart::kIirFcr, Uart::kFcrEnable);
  EXPECT_EQ(uart_.read(Uart::kIirFcr), 0xc1);
  // Not an ST16C650 (EFR reads 0 under LCR 0xbf on one), not a 16750.
  uart_.write(Uart::kLcr, 0xbf);
  EXPECT_NE(uart_.read(Uart::kIirFcr), 0);
  uart_.write(Uart::kLcr, 0);
  uart_.write(Uart::kIirFcr, Uart::kFcrEnable | 0x20);
  EXPECT_EQ(uart_.read(Uart::kIirFcr) & 0xe0, 0xc0);
  // The transmitter is idle.
  EXPECT_EQ(uart_.read(Uart::kLsr), Uart::kLsrThre | Uart::kLsrTemt);
}

TEST_F(UartTest, DivisorLatchHidesDataAndIer) {
  uart_.write(Uart::kLcr, Uart::kLcrDlab | 0x03);
  uart_.write(Uart::kRbrThr, 0x01);  // 115200 baud
  uart_.write(Uart::kIer, 0x00);
  EXPECT_EQ(uart_.read(Uart::kRbrThr), 0x01);
  EXPECT_EQ(uart_.read(Uart::kIer), 0x00);
  uart_.write(Uart::kLcr, 0x03);
  EXPECT_TRUE(sent_.empty());
  EXPECT_EQ(uart_.read(Uart::kIer), 0);
  EXPECT_EQ(uart_.read(Uart::kLcr), 0x03);
}

TEST_F(UartTest, SendsBytesOutsideLoopbackAndEchoesThemInside) {
  uart_.write(Uart::kRbrThr, 'h');
  uart_.write(Uart::kRbrThr, 'i');
  EXPECT_EQ(sent_, "hi");
  EXPECT_EQ(uart_.bytes_sent(), 2u);
  uart_.write(Uart::kMcr, Uart::kMcrLoop);
  uart_.write(Uart::kRbrThr, 'x');
  EXPECT_EQ(sent_, "hi");
  EXPECT_EQ(uart_.read(Uart::kLsr) & Uart::kLsrDataReady, Uart::kLsrDataReady);
  EXPECT_EQ(uart_.read(Uart::kRbrThr), 'x');
  EXPECT_EQ(uart_.read(Uart::kLsr) & Uart::kLsrDataReady, 0);
}

// serial8250_startup's THRE test: enabling the THRE interrupt raises it
// while THR is empty, reading IIR clears it, enabling again re-raises it.
// A UART failing this gets UART_BUG_THRE and is driven by a timer.
TEST_F(UartTest, ReassertsThreAsA16550Does) {
  uart_.write(Uart::kIer, Uart::kIerThre);
  EXPECT_EQ(uart_.read(Uart::kIirFcr) & 0x0f, Uart::kIirThre);
  EXPECT_EQ(uart_.read(Uart::kIirFcr) & 0x0f, Uart::kIirNoInterrupt);  // cleared by the read
  uart_.write(Uart::kIer, 0);
  uart_.write(Uart::kIer, Uart::kIerThre);
  EXPECT_EQ(uart_.read(Uart::kIirFcr) & 0x0f, Uart::kIirThre);
  // Writing THR: empty again at once, THRE pending again.
  uart_.write(Uart::kRbrThr, 'a');
  EXPECT_EQ(uart_.read(Uart::kIirFcr) & 0x0f, Uart::kIirThre);
}

TEST_F(UartTest, InterruptLineFollowsOut2AsOnAPc) {
  uart_.write(Uart::kIer, Uart::kIerThre);  // pending, but OUT2 is low
  EXPECT_TRUE(irq_changes_.empty());
  EXPECT_FALSE(uart_.irq_asserted());
  uart_.write(Uart::kMcr, Uart::kMcrOut2 | Uart::kMcrDtr | Uart::kMcrRts);
  ASSERT_EQ(irq_changes_.size(), 1u);
  EXPECT_TRUE(irq_changes_.back());
  uart_.read(Uart::kIirFcr);  // takes the THRE interrupt
  ASSERT_EQ(irq_changes_.size(), 2u);
  EXPECT_FALSE(irq_changes_.back());
  uart_.write(Uart::kRbrThr, 'z');  // sent; THR empty again: a new edge
  ASSERT_EQ(irq_changes_.size(), 3u);
  EXPECT_TRUE(irq_changes_.back());
  uart_.write(Uart::kIer, 0);
  EXPECT_FALSE(irq_changes_.back());
}

TEST(SerialConsole, LinesJoinTheGuestsConsole) {
  std::ostringstream out;
  ConsoleSink sink(out, true);
  ConsolePort console("linux", &sink);
  std::vector<bool> levels;
  SerialConsole serial(console, [&](bool level) { levels.push_back(level); });
  for (char c : std::string("Linux version 6.1\r\n"))
    serial.port_write(0, 1, static_cast<std::uint8_t>(c));
  console.write_byte('x');
  console.flush();
  EXPECT_EQ(out.str(), "[linux] Linux version 6.1\n[linux] x\n");
  EXPECT_EQ(serial.port_read(hw::Uart16550::kLsr, 1), 0x60u);
  // A 16-bit read covers two registers; past the window reads all ones.
  EXPECT_EQ(serial.port_read(7, 2) >> 8, 0xffu);
}

}  // namespace
}  // namespace vpio
