#include "server/data_dir.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace kw::server {
namespace {

TEST(FileLockTest, IsExclusiveUntilReleased) {
  const auto path =
      std::filesystem::temp_directory_path() / ("kw-file-lock-test-" + std::to_string(::getpid()));
  {
    auto first = FileLock::Take(path, "busy");
    ASSERT_TRUE(first.has_value()) << first.error().message;
    // flock is per open file, so a second open in this process conflicts as another
    // process would.
    auto second = FileLock::Take(path, "a keyward server is running");
    ASSERT_FALSE(second.has_value());
    EXPECT_EQ(second.error().code, ErrorCode::kFailedPrecondition);
    EXPECT_EQ(second.error().message, "a keyward server is running");
  }
  EXPECT_TRUE(FileLock::Take(path, "busy").has_value());  // released with the first
  std::filesystem::remove(path);
}

TEST(FileLockTest, AnUnopenableFileIsAnError) {
  auto lock = FileLock::Take("/nonexistent-dir/keyward.lock", "busy");
  ASSERT_FALSE(lock.has_value());
  EXPECT_EQ(lock.error().code, ErrorCode::kPermissionDenied);
}

}  // namespace
}  // namespace kw::server
