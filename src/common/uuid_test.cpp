#include "common/uuid.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace kw {
namespace {

class SequenceRandom final : public Random {
 public:
  void Fill(std::uint8_t* out, std::size_t n) override {
    for (std::size_t i = 0; i < n; ++i) out[i] = next_++;
  }

 private:
  std::uint8_t next_ = 0xf0;
};

TEST(UuidTest, FormatsVersionFourWithTheVariantBits) {
  std::array<unsigned char, 16> bytes{};
  bytes.fill(0xff);
  EXPECT_EQ(FormatUuidV4(bytes), "ffffffff-ffff-4fff-bfff-ffffffffffff");
  bytes.fill(0x00);
  EXPECT_EQ(FormatUuidV4(bytes), "00000000-0000-4000-8000-000000000000");
}

TEST(UuidTest, NewUuidUsesTheRandomBytesInOrder) {
  SequenceRandom random;
  EXPECT_EQ(NewUuid(random), "f0f1f2f3-f4f5-46f7-b8f9-fafbfcfdfeff");
}

}  // namespace
}  // namespace kw
