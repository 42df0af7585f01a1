#include "common/atomic_file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace kw {
namespace {

namespace fs = std::filesystem;

// Sets the umask for one scope: tests must not depend on the caller's.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  mode_t old_;
};

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kw_atomic_file_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir_, ec);
  }

  std::vector<std::string> Entries(const fs::path& d) const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(d)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path dir_;
};

mode_t ModeOf(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_F(AtomicFileTest, WritesContentWithExactlyTheRequestedMode) {
  const fs::path p = dir_ / "secret";
  {
    ScopedUmask mask(0);  // a permissive umask must not widen the file
    ASSERT_TRUE(WriteFileAtomic(p, "s3cr3t", 0600));
  }
  EXPECT_EQ(Slurp(p), "s3cr3t");
  EXPECT_EQ(ModeOf(p), 0600u);
  const fs::path q = dir_ / "public";
  {
    ScopedUmask mask(077);  // nor a strict one narrow a file asked to be readable
    ASSERT_TRUE(WriteFileAtomic(q, "x", 0644));
  }
  EXPECT_EQ(ModeOf(q), 0644u);
}

TEST_F(AtomicFileTest, ReplacesAnExistingFileCompletely) {
  const fs::path p = dir_ / "f";
  {
    std::ofstream out(p);
    out << "a much longer old content that must not survive in part";
  }
  ASSERT_EQ(::chmod(p.c_str(), 0644), 0);
  ASSERT_TRUE(WriteFileAtomic(p, "new", 0600));
  EXPECT_EQ(Slurp(p), "new");
  EXPECT_EQ(ModeOf(p), 0600u);  // the mode of the new file, not the old one's
  ASSERT_TRUE(WriteFileAtomic(p, "", 0600));
  EXPECT_EQ(Slurp(p), "");
  EXPECT_EQ(fs::file_size(p), 0u);
}

TEST_F(AtomicFileTest, ReplacesASymlinkRatherThanItsTarget) {
  const fs::path target = dir_ / "target";
  ASSERT_TRUE(WriteFileAtomic(target, "original", 0600));
  fs::create_symlink(target, dir_ / "link");
  ASSERT_TRUE(WriteFileAtomic(dir_ / "link", "replaced", 0600));
  EXPECT_EQ(Slurp(target), "original");
  EXPECT_FALSE(fs::is_symlink(dir_ / "link"));
  EXPECT_EQ(Slurp(dir_ / "link"), "replaced");
}

TEST_F(AtomicFileTest, LargeAndBinaryContentIsIntact) {
  std::string content(3 << 20, '\0');
  for (std::size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 131 + 7);
  const fs::path p = dir_ / "big";
  ASSERT_TRUE(WriteFileAtomic(p, content, 0600));
  EXPECT_TRUE(Slurp(p) == content);
}

TEST_F(AtomicFileTest, LeavesNoTemporaryFileBehind) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(WriteFileAtomic(dir_ / "f", std::to_string(i), 0600));
  }
  EXPECT_EQ(Entries(dir_), std::vector<std::string>{"f"});
}

TEST_F(AtomicFileTest, MissingDirectoryFailsCleanlyNamingThePathNotTheContent) {
  const fs::path p = dir_ / "absent" / "secret";
  Status st = WriteFileAtomic(p, "hunter2-secret-value", 0600);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, ErrorCode::kNotFound);
  EXPECT_NE(st.error().message.find(p.string()), std::string::npos) << st.error().message;
  EXPECT_EQ(st.error().message.find("hunter2"), std::string::npos);
  EXPECT_TRUE(Entries(dir_).empty());
}

// The rename fails after the temporary file was fully written: it must be removed and
// the target left alone.
TEST_F(AtomicFileTest, FailedRenameRemovesTheTemporaryFile) {
  const fs::path p = dir_ / "occupied";
  fs::create_directories(p / "child");
  Status st = WriteFileAtomic(p, "hunter2-secret-value", 0600);
  ASSERT_FALSE(st.has_value());
  EXPECT_NE(st.error().message.find(p.string()), std::string::npos) << st.error().message;
  EXPECT_EQ(st.error().message.find("hunter2"), std::string::npos);
  EXPECT_EQ(Entries(dir_), std::vector<std::string>{"occupied"});
  EXPECT_TRUE(fs::is_directory(p / "child"));
}

TEST_F(AtomicFileTest, UnwritableDirectoryIsPermissionDenied) {
  if (::geteuid() == 0) GTEST_SKIP() << "root bypasses directory permissions";
  ASSERT_EQ(::chmod(dir_.c_str(), 0500), 0);
  Status st = WriteFileAtomic(dir_ / "f", "x", 0600);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, ErrorCode::kPermissionDenied);
}

TEST_F(AtomicFileTest, ReadFileLimitedReadsUpToTheLimit) {
  const fs::path p = dir_ / "f";
  ASSERT_TRUE(WriteFileAtomic(p, std::string("ab\0cd", 5), 0600));
  auto exact = ReadFileLimited(p, 5);
  ASSERT_TRUE(exact.has_value()) << exact.error().message;
  EXPECT_EQ(*exact, std::string("ab\0cd", 5));
  auto over = ReadFileLimited(p, 4);
  ASSERT_FALSE(over.has_value());
  EXPECT_EQ(over.error().code, ErrorCode::kFailedPrecondition);
  ASSERT_TRUE(WriteFileAtomic(p, "", 0600));
  auto empty = ReadFileLimited(p, 0);
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(*empty, "");
}

TEST_F(AtomicFileTest, ReadFileLimitedRejectsMissingFilesAndDirectories) {
  auto missing = ReadFileLimited(dir_ / "nope", 100);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("nope"), std::string::npos);
  auto directory = ReadFileLimited(dir_, 100);
  ASSERT_FALSE(directory.has_value());
  EXPECT_EQ(directory.error().code, ErrorCode::kFailedPrecondition);
}

TEST_F(AtomicFileTest, ReadFileLimitedStopsAtTheLimitForFilesThatReportNoSize) {
  // /proc files have st_size 0 but content; the limit must still hold.
  auto small = ReadFileLimited("/proc/self/status", 1 << 20);
  ASSERT_TRUE(small.has_value()) << small.error().message;
  EXPECT_NE(small->find("Name:"), std::string::npos);
  auto limited = ReadFileLimited("/proc/self/status", 10);
  ASSERT_FALSE(limited.has_value());
  EXPECT_EQ(limited.error().code, ErrorCode::kFailedPrecondition);
}

TEST_F(AtomicFileTest, EnsurePrivateDirCreatesWithMode0700) {
  ScopedUmask mask(0);
  const fs::path d = dir_ / "a" / "b" / "c";
  ASSERT_TRUE(EnsurePrivateDir(d));
  EXPECT_TRUE(fs::is_directory(d));
  EXPECT_EQ(ModeOf(d), 0700u);
  EXPECT_EQ(ModeOf(dir_ / "a"), 0700u);
  ASSERT_TRUE(EnsurePrivateDir(d));  // idempotent
  ASSERT_TRUE(EnsurePrivateDir(dir_ / "trailing" / ""));
  EXPECT_EQ(ModeOf(dir_ / "trailing"), 0700u);
}

TEST_F(AtomicFileTest, EnsurePrivateDirNarrowsAnOwnedDirectory) {
  const fs::path d = dir_ / "wide";
  fs::create_directories(d);
  ASSERT_EQ(::chmod(d.c_str(), 0755), 0);
  ASSERT_TRUE(EnsurePrivateDir(d));
  EXPECT_EQ(ModeOf(d), 0700u);
}

TEST_F(AtomicFileTest, EnsurePrivateDirRejectsAFile) {
  const fs::path f = dir_ / "file";
  ASSERT_TRUE(WriteFileAtomic(f, "x", 0600));
  Status st = EnsurePrivateDir(f);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, ErrorCode::kFailedPrecondition);
}

}  // namespace
}  // namespace kw
