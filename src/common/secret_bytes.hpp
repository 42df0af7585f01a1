#pragma once

#include <string>
#include <string_view>

namespace kw {

// Secret material: a secret access key, a session token, a master or data key.
// Zeroised on destruction, move-only, no stream or fmt formatter. Reading the
// bytes takes an explicit Reveal(), so every use is easy to find with grep.
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::string bytes) : bytes_(std::move(bytes)) {}
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  SecretBytes(SecretBytes&& o) noexcept : bytes_(std::move(o.bytes_)) { o.Wipe(); }
  SecretBytes& operator=(SecretBytes&& o) noexcept {
    if (this != &o) {
      Wipe();
      bytes_ = std::move(o.bytes_);
      o.Wipe();
    }
    return *this;
  }
  ~SecretBytes() { Wipe(); }

  // An explicit copy, for the rare place that must keep two.
  SecretBytes Clone() const { return SecretBytes(bytes_); }

  std::string_view Reveal() const { return bytes_; }
  std::size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }

 private:
  void Wipe();
  std::string bytes_;
};

}  // namespace kw
