#include "common/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>

namespace kw {
namespace {

// Closes a descriptor on scope exit unless Release()d.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

Status WriteAll(int fd, std::string_view content, const std::filesystem::path& path) {
  while (!content.empty()) {
    const ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "write", path);
    }
    content.remove_prefix(static_cast<std::size_t>(n));
  }
  return OkStatus();
}

Status FsyncDir(const std::filesystem::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError(errno, "open directory", dir);
  if (::fsync(fd.get()) != 0) return ErrnoError(errno, "fsync directory", dir);
  return OkStatus();
}

// Creates a fresh temporary file beside `path`. The name is unique within the process
// (pid and counter); O_EXCL guards against leftovers and other processes, in which
// case the next name is tried.
Result<int> CreateTemp(const std::filesystem::path& path, mode_t mode,
                       std::filesystem::path& temp) {
  static std::atomic<unsigned> counter{0};
  for (int attempt = 0; attempt < 100; ++attempt) {
    temp = path;
    temp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
    const int fd =
        ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode & 07777);
    if (fd >= 0) return fd;
    if (errno != EEXIST) return ErrnoError(errno, "create temporary file for", path);
  }
  return Internal("cannot find a free temporary file name for " + path.string());
}

Status WriteTemp(int fd, const std::filesystem::path& path, std::string_view content, mode_t mode) {
  // open() applied the umask; the caller asked for exactly `mode`.
  if (::fchmod(fd, mode & 07777) != 0) return ErrnoError(errno, "chmod", path);
  KW_RETURN_IF_ERROR(WriteAll(fd, content, path));
  // Data first, then the rename: otherwise a crash could leave the new name pointing
  // at an empty or partial file.
  if (::fsync(fd) != 0) return ErrnoError(errno, "fsync", path);
  return OkStatus();
}

// Creates the missing ancestors of `path` with mode 0700 (less the umask); existing
// ones are left alone.
Status CreateParents(const std::filesystem::path& path) {
  const std::filesystem::path parent = path.parent_path();
  if (parent.empty() || parent == path) return ErrnoError(ENOENT, "create directory", path);
  if (::mkdir(parent.c_str(), 0700) == 0 || errno == EEXIST) return OkStatus();
  if (errno != ENOENT) return ErrnoError(errno, "create directory", parent);
  KW_RETURN_IF_ERROR(CreateParents(parent));
  if (::mkdir(parent.c_str(), 0700) == 0 || errno == EEXIST) return OkStatus();
  return ErrnoError(errno, "create directory", parent);
}

}  // namespace

Error ErrnoError(int err, std::string_view what, const std::filesystem::path& path) {
  std::string message = std::string(what) + " " + path.string() + ": " + std::strerror(err);
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return NotFound(std::move(message));
    case EACCES:
    case EPERM:
    case EROFS:
      return PermissionDenied(std::move(message));
    case ENOSPC:
    case EDQUOT:
    case EIO:
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      return Unavailable(std::move(message));
    case EEXIST:
      return AlreadyExists(std::move(message));
    default:
      return Internal(std::move(message));
  }
}

Status WriteFileAtomic(const std::filesystem::path& path, std::string_view content, mode_t mode) {
  if (path.filename().empty()) {
    return InvalidArgument("not a file path: " + path.string());
  }
  std::filesystem::path temp;
  KW_ASSIGN_OR_RETURN(int raw_fd, CreateTemp(path, mode, temp));
  Fd fd(raw_fd);
  Status written = WriteTemp(fd.get(), path, content, mode);
  if (written && ::close(fd.Release()) != 0) written = ErrnoError(errno, "close", path);
  if (written && ::rename(temp.c_str(), path.c_str()) != 0) {
    written = ErrnoError(errno, "rename over", path);
  }
  if (!written) {
    ::unlink(temp.c_str());
    return written;
  }
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  return FsyncDir(dir);
}

Result<std::string> ReadFileLimited(const std::filesystem::path& path, std::size_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) return ErrnoError(errno, "open", path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoError(errno, "stat", path);
  if (!S_ISREG(st.st_mode)) return FailedPrecondition("not a regular file: " + path.string());
  const std::string too_large =
      path.string() + " is larger than " + std::to_string(max_bytes) + " bytes";
  if (static_cast<std::uintmax_t>(st.st_size) > max_bytes) return FailedPrecondition(too_large);
  // Read until EOF rather than trusting st_size: the file may grow meanwhile, and some
  // files (e.g. under /proc) report size 0.
  std::string out;
  out.resize(std::min<std::size_t>(max_bytes, static_cast<std::size_t>(st.st_size)) + 1);
  std::size_t used = 0;
  for (;;) {
    if (used == out.size()) {
      if (out.size() > max_bytes) return FailedPrecondition(too_large);
      out.resize(std::min(max_bytes + 1, out.size() * 2 + 4096));
    }
    const ssize_t n = ::read(fd.get(), out.data() + used, out.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "read", path);
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  if (used > max_bytes) return FailedPrecondition(too_large);
  out.resize(used);
  return out;
}

Status EnsurePrivateDir(const std::filesystem::path& dir) {
  if (dir.empty()) return InvalidArgument("empty directory path");
  // "a/b/" names the directory "a/b".
  const std::filesystem::path path =
      dir.has_filename() || !dir.has_parent_path() ? dir : dir.parent_path();
  if (::mkdir(path.c_str(), 0700) == 0) {
    // mkdir applied the umask, which may have taken owner bits away.
    if (::chmod(path.c_str(), 0700) != 0) return ErrnoError(errno, "chmod 0700", path);
    return OkStatus();
  }
  if (errno == ENOENT) {
    KW_RETURN_IF_ERROR(CreateParents(path));
    return EnsurePrivateDir(path);
  }
  if (errno != EEXIST) return ErrnoError(errno, "create directory", path);

  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return ErrnoError(errno, "stat", path);
  if (!S_ISDIR(st.st_mode)) return FailedPrecondition("not a directory: " + path.string());
  if ((st.st_mode & 0077) == 0) return OkStatus();
  if (st.st_uid != ::geteuid()) {
    return FailedPrecondition(path.string() +
                              " is accessible to group or others and owned by another user");
  }
  if (::chmod(path.c_str(), st.st_mode & 0700) != 0) {
    return ErrnoError(errno, "chmod 0700", path);
  }
  return OkStatus();
}

}  // namespace kw
