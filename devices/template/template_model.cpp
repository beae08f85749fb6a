// The template device's VPIO model.
#include "devices/template/template_model.hpp"

namespace vpio::devices {
namespace reg = template_nic;

std::string_view violation_name(TemplateViolation v) noexcept {
  switch (v) {
    case TemplateViolation::none: return "none";
    case TemplateViolation::send_length: return "send length";
    case TemplateViolation::foreign_source_address: return "foreign source address";
  }
  return "unknown";
}

TemplateDecision TemplateModel::on_write(std::uint16_t offset, std::uint8_t value) noexcept {
  TemplateDecision d;
  if (offset == reg::kCmd && (value & reg::kCmdReset) != 0) {
    tx_len_ = 0;
    tx_ptr_ = 0;
    source_ = {};
  } else if (offset == reg::kLen) {
    tx_len_ = static_cast<std::uint16_t>((tx_len_ & 0xff00) | value);
  } else if (offset == reg::kLen + 1) {
    tx_len_ = static_cast<std::uint16_t>((tx_len_ & 0x00ff) | (value << 8));
  } else if (offset == reg::kData || offset == reg::kData + 1) {
    if (tx_ptr_ >= 6 && tx_ptr_ < 12) source_.bytes[tx_ptr_ - 6] = value;
    if (tx_ptr_ < reg::kTxBufferBytes) ++tx_ptr_;
  } else if (offset == reg::kCmd && (value & reg::kCmdSend) != 0) {
    if (tx_len_ < reg::kMinSendBytes || tx_len_ > hw::kMaxFrameBytes) {
      d.action = TemplateDecision::Action::refuse;
      d.violation = TemplateViolation::send_length;
      d.address = tx_len_;
    } else if (source_ != mac_) {
      d.action = TemplateDecision::Action::refuse;
      d.violation = TemplateViolation::foreign_source_address;
      d.address = 6;
    } else {
      tx_ptr_ = 0;  // as on the card (a refused send reaches no card)
      d.action = TemplateDecision::Action::send;
      d.target = {dmm::DmaSpace::device_memory, dmm::DmaDirection::device_reads, 0, 0, tx_len_};
    }
  }
  return d;
}

}  // namespace vpio::devices
