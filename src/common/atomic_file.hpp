#pragma once

// Files that hold secrets or state: replaced atomically, read with a size limit, kept
// in owner-only directories. POSIX only. Errors name the path and the system error,
// never the content.
//
// Error codes: kNotFound when the file or a directory on the path does not exist;
// kPermissionDenied when the OS refuses (permissions, read-only file system);
// kUnavailable for conditions that may pass (disk full, I/O error, out of descriptors);
// kFailedPrecondition for a path of the wrong kind or size; kInternal otherwise.
//
// All functions are thread-safe (they share no state; concurrent writers of one path
// each produce a complete file, and the last rename wins).

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace kw {

// Replaces `path` with `content` so that readers and a crash see either the old file
// or the new one, complete, never a mix. Writes a temporary file next to the target
// (same directory, hence same file system), created with O_CREAT|O_EXCL and exactly
// `mode` (umask does not apply; use 0600 for secrets), so it is never readable by
// others even for an instant; fsyncs it, renames it over `path`, then fsyncs the
// directory so that the rename itself is durable. On failure the temporary file is
// removed and `path` is left as it was (unless only the final directory fsync failed:
// then the new content is in place but may not survive a power loss).
//
// `path` names the file itself: a symbolic link at `path` is replaced, not followed.
// The new file belongs to the calling user.
Status WriteFileAtomic(const std::filesystem::path& path, std::string_view content, mode_t mode);

// The error for a failed system call on `path`, with the codes above: "WHAT PATH:
// strerror". For callers doing their own file work, so that errors read alike.
Error ErrnoError(int err, std::string_view what, const std::filesystem::path& path);

// Reads a whole regular file of at most `max_bytes`. kFailedPrecondition if it is
// larger or not a regular file (so a FIFO or device cannot block or flood the caller).
Result<std::string> ReadFileLimited(const std::filesystem::path& path, std::size_t max_bytes);

// Makes sure `path` is a directory only its owner can use. Creates it (and missing
// parents) with mode 0700 if absent. If it exists: kFailedPrecondition if it is not a
// directory; if the calling user owns it, group and other permissions are removed;
// if someone else owns it and it grants group or other access, kFailedPrecondition
// (it cannot be made private by us).
Status EnsurePrivateDir(const std::filesystem::path& path);

}  // namespace kw
