// The exit report's table: columns stay in line whatever the names and
// counts, and a name too long for the table is cut with an ellipsis.
#include <gtest/gtest.h>

#include <sstream>

#include "app/exit_report.hpp"

namespace vpio {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Where each column of `line` ends (the column index after its last
// character), counting UTF-8 code points as one column each.
std::vector<std::size_t> column_ends(const std::string& line) {
  std::vector<std::size_t> ends;
  std::size_t column = 0;
  bool in_cell = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const auto byte = static_cast<unsigned char>(line[i]);
    if ((byte & 0xc0) == 0x80) continue;  // continues a code point
    const bool blank = line[i] == ' ';
    if (in_cell && blank) ends.push_back(column);
    in_cell = !blank;
    ++column;
  }
  if (in_cell) ends.push_back(column);
  return ends;
}

// Every row's right-aligned columns (status on) end where their headers end,
// and its outcome starts where the header's does, in columns.
void expect_in_line(const std::vector<std::string>& lines) {
  ASSERT_FALSE(lines.empty());
  const auto header_ends = column_ends(lines[0]);
  ASSERT_EQ(header_ends.size(), 17u);  // "vpio:" and 16 columns
  const auto outcome_start = [](const std::string& line) {
    const std::size_t guest_end = line.find(' ', std::string_view("vpio: ").size());
    return text_columns(std::string_view(line).substr(0, line.find_first_not_of(' ', guest_end)));
  };
  for (std::size_t i = 1; i < lines.size(); ++i) {
    SCOPED_TRACE(lines[i]);
    const auto ends = column_ends(lines[i]);
    ASSERT_EQ(ends.size(), header_ends.size());
    for (std::size_t c = 3; c < ends.size(); ++c) EXPECT_EQ(ends[c], header_ends[c]) << c;
    EXPECT_EQ(outcome_start(lines[i]), outcome_start(lines[0]));
  }
}

ExitReportRow row(std::string guest, std::uint64_t exits) {
  ExitReportRow r;
  r.guest = std::move(guest);
  r.outcome = "exited";
  r.kvm_exits = exits;
  r.port_accesses = exits * 3;
  r.io_exits = exits;
  r.hooked = exits / 2;
  return r;
}

TEST(ExitReport, HeaderNamesEveryColumnInOrder) {
  const auto lines = lines_of(exit_report_text({row("hello", 12)}));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0],
            "vpio: guest outcome status kvm-exits port-acc coalesced io-exits hlt irqs mce "
            "nic-tx nic-rx direct hooked ctx-sw viol");
  EXPECT_EQ(lines[1],
            "vpio: hello exited       0        12       36         0       12   0    0   0 "
            "     0      0      0      6      0    0");
}

// Right-aligned numbers end where their headers end; left-aligned names and
// outcomes start where theirs start, whatever the lengths.
TEST(ExitReport, LongNamesAndLargeCountsKeepTheColumnsInLine) {
  const auto lines = lines_of(exit_report_text({
      row("net_echo", 151558),
      row("a_rather_long_guest_image_name", 7),
      row("x", 123456789012),
  }));
  ASSERT_EQ(lines.size(), 4u);
  expect_in_line(lines);
  EXPECT_NE(lines[2].find("a_rather_long_guest_image_name exited"), std::string::npos);
}

TEST(ExitReport, ANameBeyondTheLimitIsCutWithAnEllipsis) {
  const std::string long_name(kMaxGuestNameColumns + 10, 'n');
  const std::string exact(kMaxGuestNameColumns, 'e');
  const auto lines = lines_of(exit_report_text({row(long_name, 1), row(exact, 2)}));
  ASSERT_EQ(lines.size(), 3u);
  const std::string cut = std::string(kMaxGuestNameColumns - 1, 'n') + "\u2026";
  EXPECT_TRUE(lines[1].starts_with("vpio: " + cut + " exited")) << lines[1];
  EXPECT_TRUE(lines[2].starts_with("vpio: " + exact + " exited")) << lines[2];
  expect_in_line(lines);
}

// A name of multi-byte characters takes one column per character.
TEST(ExitReport, Utf8NamesAreMeasuredInCharacters) {
  const auto lines = lines_of(exit_report_text({row("gäst", 5), row("guest#2", 6)}));
  ASSERT_EQ(lines.size(), 3u);
  expect_in_line(lines);
  EXPECT_TRUE(lines[1].starts_with("vpio: gäst    exited")) << lines[1];
}

TEST(ExitReport, TextColumnsCountCodePointsAndStrayBytes) {
  EXPECT_EQ(text_columns(""), 0u);
  EXPECT_EQ(text_columns("abc"), 3u);
  EXPECT_EQ(text_columns("g\xc3\xa4st"), 4u);       // ä: two bytes, one column
  EXPECT_EQ(text_columns("\xe2\x80\xa6"), 1u);      // …
  EXPECT_EQ(text_columns("\xf0\x9f\x90\xa7"), 1u);  // a four-byte sequence
  EXPECT_EQ(text_columns("a\xff"
                         "b"),
            3u);                            // not UTF-8: one column per byte
  EXPECT_EQ(text_columns("\xc3"), 1u);      // a sequence cut short
  EXPECT_EQ(text_columns("\xa4\xa4"), 2u);  // stray continuation bytes
}

TEST(ExitReport, CutToColumnsNeverSplitsACharacter) {
  EXPECT_EQ(cut_to_columns("hello", 5), "hello");
  EXPECT_EQ(cut_to_columns("hello", 4), "hel\u2026");
  EXPECT_EQ(cut_to_columns("h\xc3\xa4llo", 3), "h\xc3\xa4\u2026");
  EXPECT_EQ(cut_to_columns("hello", 1), "\u2026");
  EXPECT_EQ(cut_to_columns("hello", 0), "");
}

}  // namespace
}  // namespace vpio
