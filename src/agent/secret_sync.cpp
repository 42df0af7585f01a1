#include "agent/secret_sync.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "agent/credentials_file.hpp"
#include "agent/transport.hpp"
#include "common/atomic_file.hpp"
#include "crypto/digest.hpp"
#include "sigv4/sigv4.hpp"

namespace kw::agent {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr std::size_t kMaxFileBytes = 1 << 20;  // credentials and env files are small

Error Errno(int err, std::string_view what, const fs::path& path) {
  if (err == ELOOP) {
    return FailedPrecondition(std::string(what) + " " + path.string() +
                              ": is a symbolic link, which keyward-agent does not follow");
  }
  return ErrnoError(err, what, path);
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::optional<std::int64_t> Number(std::string_view s, std::int64_t lo, std::int64_t hi) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  std::int64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n < lo || n > hi) return std::nullopt;
  return n;
}

std::optional<int> SignalNumber(std::string_view name) {
  if (name == "SIGHUP" || name == "HUP") return SIGHUP;
  if (name == "SIGUSR1" || name == "USR1") return SIGUSR1;
  if (name == "SIGUSR2" || name == "USR2") return SIGUSR2;
  return std::nullopt;
}

bool IsUnitName(std::string_view s) {
  if (s.empty() || s.size() > 256 || s.front() == '-') return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '@' || c == '.' || c == '_' || c == ':' || c == '-' || c == '\\';
    if (!ok) return false;
  }
  return true;
}

Status CheckReload(std::string_view reload) {
  if (reload.empty()) return OkStatus();
  if (reload.rfind("command:", 0) == 0) {
    if (reload.size() == 8) return InvalidArgument("Reload command: is empty");
    return OkStatus();
  }
  if (reload.rfind("signal:", 0) == 0) {
    const std::string_view rest = reload.substr(7);
    const auto colon = rest.find(':');
    if (colon == std::string_view::npos || !SignalNumber(rest.substr(0, colon)) ||
        rest.size() == colon + 1 || rest[colon + 1] != '/') {
      return InvalidArgument(
          "Reload signal: must be signal:SIGHUP|SIGUSR1|SIGUSR2:/absolute/path/to.pid");
    }
    return OkStatus();
  }
  if (reload.rfind("systemd:", 0) == 0) {
    if (!IsUnitName(reload.substr(8))) return InvalidArgument("Reload systemd: needs a unit name");
    return OkStatus();
  }
  return InvalidArgument("Reload must be command:CMD, signal:SIGNAL:/pid/file or systemd:UNIT");
}

std::string EnvValue(const std::vector<std::string>& env, std::string_view name) {
  for (const std::string& e : env) {
    if (e.size() > name.size() && e.compare(0, name.size(), name) == 0 && e[name.size()] == '=') {
      return e.substr(name.size() + 1);
    }
  }
  return {};
}

// The file name and directory of `path`, the directory opened (O_DIRECTORY) once so that
// every later operation is relative to that directory even if a path component changes.
struct TargetDir {
  Fd fd;
  fs::path dir;
  std::string name;
};

Result<TargetDir> OpenTargetDir(const fs::path& path) {
  if (!path.is_absolute() || path.filename().empty() || path.filename() == "." ||
      path.filename() == "..") {
    return InvalidArgument("not an absolute file path: " + path.string());
  }
  TargetDir t{Fd(::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)),
              path.parent_path(), path.filename().string()};
  if (t.fd.get() < 0) return Errno(errno, "open directory", t.dir);
  return t;
}

std::string TempPrefix(const std::string& name) { return "." + name + ".keyward-tmp."; }

// Temp files of an interrupted sync (a crash between create and rename) hold a key:
// remove them. Called under the lock, so no other sync of this file is writing one.
void RemoveStaleTemps(const TargetDir& t) {
  const int dup = ::openat(t.fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup < 0) return;
  DIR* d = ::fdopendir(dup);
  if (d == nullptr) {
    ::close(dup);
    return;
  }
  const std::string prefix = TempPrefix(t.name);
  std::vector<std::string> stale;
  while (dirent* e = ::readdir(d)) {
    if (std::string_view(e->d_name).rfind(prefix, 0) == 0) stale.emplace_back(e->d_name);
  }
  ::closedir(d);
  for (const std::string& s : stale) ::unlinkat(t.fd.get(), s.c_str(), 0);
}

struct Existing {
  SecretBytes content;
  FileOwnership ownership;
};

// The target as it is now; nullopt when absent. Never follows a symbolic link: a user
// who owns the directory could otherwise point the target at a file only root may read
// and have its bytes merged into a file that user owns.
Result<std::optional<Existing>> ReadExisting(const TargetDir& t) {
  const fs::path path = t.dir / t.name;
  Fd fd(::openat(t.fd.get(), t.name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    if (errno == ENOENT) return std::optional<Existing>();
    return Errno(errno, "open", path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Errno(errno, "stat", path);
  if (!S_ISREG(st.st_mode)) return FailedPrecondition(path.string() + " is not a regular file");
  if (static_cast<std::size_t>(st.st_size) > kMaxFileBytes) {
    return FailedPrecondition(path.string() + " is larger than 1 MiB");
  }
  std::string data;
  data.resize(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < data.size()) {
    const ssize_t n = ::read(fd.get(), data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno(errno, "read", path);
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  data.resize(got);
  Existing e{SecretBytes(std::move(data)), {st.st_uid, st.st_gid, st.st_mode & 07777}};
  return std::optional<Existing>(std::move(e));
}

Status WriteAll(int fd, std::string_view content, const fs::path& path) {
  while (!content.empty()) {
    const ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno(errno, "write", path);
    content.remove_prefix(static_cast<std::size_t>(n));
  }
  return OkStatus();
}

Status InstallAt(const TargetDir& t, std::string_view content, const FileOwnership& own) {
  static std::atomic<unsigned> counter{0};
  const fs::path path = t.dir / t.name;
  std::string temp;
  Fd fd;
  for (int attempt = 0; attempt < 100 && fd.get() < 0; ++attempt) {
    temp = TempPrefix(t.name) + std::to_string(::getpid()) + "." +
           std::to_string(counter.fetch_add(1));
    // 0600 and owned by the agent until fchown/fchmod below: nobody else can open it.
    fd = Fd(::openat(t.fd.get(), temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                     0600));
    if (fd.get() < 0 && errno != EEXIST) return Errno(errno, "create temporary file for", path);
  }
  if (fd.get() < 0) return Internal("no free temporary file name for " + path.string());
  auto fail = [&](Error e) -> Status {
    ::unlinkat(t.fd.get(), temp.c_str(), 0);
    return e;
  };
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail(Errno(errno, "stat", path));
  // Owner and mode before any byte of the key is in the file.
  if ((st.st_uid != own.uid || st.st_gid != own.gid) && ::fchown(fd.get(), own.uid, own.gid) != 0) {
    return fail(Errno(errno, "chown", path));
  }
  if (::fchmod(fd.get(), own.mode & 07777) != 0) return fail(Errno(errno, "chmod", path));
  if (auto st2 = WriteAll(fd.get(), content, path); !st2) return fail(st2.error());
  if (::fsync(fd.get()) != 0) return fail(Errno(errno, "fsync", path));
  if (::renameat(t.fd.get(), temp.c_str(), t.fd.get(), t.name.c_str()) != 0) {
    return fail(Errno(errno, "rename into", path));
  }
  if (::fsync(t.fd.get()) != 0) return Errno(errno, "fsync directory", t.dir);
  return OkStatus();
}

Status RemoveAt(const TargetDir& t) {
  if (::unlinkat(t.fd.get(), t.name.c_str(), 0) != 0 && errno != ENOENT) {
    return Errno(errno, "remove", t.dir / t.name);
  }
  ::fsync(t.fd.get());
  return OkStatus();
}

Result<uid_t> ResolveUser(const std::string& name, gid_t* primary_group) {
  if (auto n = Number(name, 0, 2147483647)) {
    if (primary_group != nullptr) {
      passwd pw{};
      passwd* found = nullptr;
      char buf[4096];
      if (::getpwuid_r(static_cast<uid_t>(*n), &pw, buf, sizeof buf, &found) == 0 && found) {
        *primary_group = pw.pw_gid;
      } else {
        *primary_group = static_cast<gid_t>(*n);
      }
    }
    return static_cast<uid_t>(*n);
  }
  passwd pw{};
  passwd* found = nullptr;
  char buf[4096];
  if (::getpwnam_r(name.c_str(), &pw, buf, sizeof buf, &found) != 0 || found == nullptr) {
    return NotFound("no local user '" + name + "'");
  }
  if (primary_group != nullptr) *primary_group = pw.pw_gid;
  return pw.pw_uid;
}

Result<gid_t> ResolveGroup(const std::string& name) {
  if (auto n = Number(name, 0, 2147483647)) return static_cast<gid_t>(*n);
  group gr{};
  group* found = nullptr;
  char buf[4096];
  if (::getgrnam_r(name.c_str(), &gr, buf, sizeof buf, &found) != 0 || found == nullptr) {
    return NotFound("no local group '" + name + "'");
  }
  return gr.gr_gid;
}

std::string EncodeSecretId(std::string_view id) {
  std::string out;
  for (char c : id) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-' || (c == '.' && !out.empty());
    if (keep) {
      out += c;
    } else {
      static const char* kHex = "0123456789ABCDEF";
      out += '%';
      out += kHex[(static_cast<unsigned char>(c) >> 4) & 15];
      out += kHex[static_cast<unsigned char>(c) & 15];
    }
  }
  if (out.size() > 180) out = out.substr(0, 100) + "-" + crypto::Sha256Hex(id);
  return out;
}

// The per-secret directory of credential-process: owned by `uid`, 0700, under a root-owned
// 0711 directory that every user can traverse but not list.
Result<fs::path> PrepareCredentialProcessDir(const fs::path& state_dir, std::string_view secret_id,
                                             uid_t uid, gid_t gid) {
  const fs::path root = CredentialProcessRoot(state_dir);
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return Unavailable("create directory " + root.string() + ": " + ec.message());
  {
    Fd rfd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (rfd.get() < 0) return Errno(errno, "open directory", root);
    if (::fchmod(rfd.get(), 0711) != 0) return Errno(errno, "chmod", root);
  }
  const fs::path dir = root / EncodeSecretId(secret_id);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Errno(errno, "create", dir);
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dfd.get() < 0) return Errno(errno, "open directory", dir);
  struct stat st {};
  if (::fstat(dfd.get(), &st) != 0) return Errno(errno, "stat", dir);
  if ((st.st_uid != uid || st.st_gid != gid) && ::fchown(dfd.get(), uid, gid) != 0) {
    return Errno(errno, "chown", dir);
  }
  if ((st.st_mode & 07777) != 0700 && ::fchmod(dfd.get(), 0700) != 0) {
    return Errno(errno, "chmod", dir);
  }
  return dir / "credentials.json";
}

// The step's hooks get the step environment without the instance credentials, so that
// a health check such as `aws sts get-caller-identity --profile app` tests the synced key
// rather than the agent's own.
std::vector<std::string> HookEnvironment(const std::vector<std::string>& env) {
  std::vector<std::string> out;
  for (const std::string& e : env) {
    if (e.rfind("AWS_ACCESS_KEY_ID=", 0) == 0 || e.rfind("AWS_SECRET_ACCESS_KEY=", 0) == 0 ||
        e.rfind("AWS_SESSION_TOKEN=", 0) == 0 || e.rfind("AWS_SECURITY_TOKEN=", 0) == 0) {
      continue;
    }
    out.push_back(e);
  }
  return out;
}

std::string ShellQuote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

struct HookOutcome {
  bool ok = true;
  bool cancelled = false;
  std::string why;  // for the operator; no hook output (it might echo anything)
};

HookOutcome RunHookCommand(const std::string& what, const std::string& command,
                           std::chrono::seconds timeout, const SyncContext& ctx,
                           const CancelFlag& cancel, const Clock& clock) {
  agentproto::Step step;
  step.name = what;
  step.run_command = {command};
  step.timeout_seconds = timeout.count();
  StepOptions options;
  static std::atomic<unsigned> seq{0};
  options.script_path = ctx.hook_script_base;
  std::string tag = what;
  std::replace(tag.begin(), tag.end(), ' ', '-');
  options.script_path += "." + tag + "." + std::to_string(seq.fetch_add(1)) + ".sh";
  options.environment = HookEnvironment(ctx.environment);
  options.kill_grace = ctx.kill_grace;
  options.default_timeout = timeout;
  const agentproto::StepResult r = RunStep(step, options, cancel, clock);
  HookOutcome out;
  if (r.status == "Success") return out;
  out.ok = false;
  out.cancelled = r.status == "Cancelled";
  if (r.status == "TimedOut") {
    out.why = what + " timed out after " + std::to_string(timeout.count()) + " s";
  } else if (r.status == "Cancelled") {
    out.why = what + " was cancelled";
  } else if (r.response_code < 0) {
    out.why = what + " could not run: " + r.standard_error;
  } else {
    out.why = what + " exited with " + std::to_string(r.response_code);
  }
  return out;
}

HookOutcome RunReload(const SyncRequest& req, const SyncContext& ctx, const CancelFlag& cancel,
                      const Clock& clock) {
  if (req.reload.empty()) return {};
  if (req.reload.rfind("command:", 0) == 0) {
    return RunHookCommand("reload", req.reload.substr(8), req.reload_timeout, ctx, cancel, clock);
  }
  if (req.reload.rfind("systemd:", 0) == 0) {
    return RunHookCommand("reload", "systemctl reload " + ShellQuote(req.reload.substr(8)),
                          req.reload_timeout, ctx, cancel, clock);
  }
  // signal:NAME:/pid/file
  const std::string rest = req.reload.substr(7);
  const auto colon = rest.find(':');
  const int sig = SignalNumber(rest.substr(0, colon)).value_or(SIGHUP);
  const fs::path pid_file = rest.substr(colon + 1);
  HookOutcome out;
  out.ok = false;
  Fd fd(::open(pid_file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    out.why = "reload: cannot open " + pid_file.string() + ": " + std::strerror(errno);
    return out;
  }
  char buf[32] = {};
  const ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
  std::string_view text(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  const auto pid = Number(text, 2, 4194304);
  if (!pid) {
    out.why = "reload: " + pid_file.string() + " holds no process ID";
    return out;
  }
  if (::kill(static_cast<pid_t>(*pid), sig) != 0) {
    out.why = "reload: signal to process " + std::to_string(*pid) + ": " + std::strerror(errno);
    return out;
  }
  out.ok = true;
  return out;
}

agentproto::StepResult Finish(agentproto::StepResult r, std::string status, std::string out,
                              std::string err, const Clock& clock) {
  r.status = std::move(status);
  r.response_code = r.status == "Success" ? 0 : 1;
  r.standard_output = agentproto::TruncateOutput(out, agentproto::kMaxStdoutChars);
  r.standard_error = agentproto::TruncateOutput(err, agentproto::kMaxStderrChars);
  r.ended_at =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now().time_since_epoch()).count();
  return r;
}

}  // namespace

Result<SyncRequest> ParseSyncParameters(const std::map<std::string, std::string>& params) {
  SyncRequest r;
  bool have_format = false;
  for (const auto& [name, value] : params) {
    for (char c : value) {
      if (static_cast<unsigned char>(c) < 0x20) {
        return InvalidArgument("parameter " + name + " holds a control character");
      }
    }
    if (name == "SecretId") {
      r.secret_id = value;
    } else if (name == "VersionId") {
      r.version_id = value;
    } else if (name == "Format") {
      have_format = true;
      if (value == "credentials") {
        r.format = SyncFormat::kCredentials;
      } else if (value == "env") {
        r.format = SyncFormat::kEnv;
      } else if (value == "json") {
        r.format = SyncFormat::kJson;
      } else if (value == "credential-process") {
        r.format = SyncFormat::kCredentialProcess;
      } else {
        return InvalidArgument("Format must be credentials, env, json or credential-process");
      }
    } else if (name == "Path") {
      r.path = value;
    } else if (name == "Profile") {
      r.profile = value;
    } else if (name == "Owner") {
      r.owner = value;
    } else if (name == "Group") {
      r.group = value;
    } else if (name == "Mode") {
      if (value.size() < 3 || value.size() > 4 ||
          value.find_first_not_of("01234567") != std::string::npos) {
        return InvalidArgument("Mode must be octal, such as 0600");
      }
      r.mode = static_cast<mode_t>(std::stoul(value, nullptr, 8));
      if ((r.mode & 07000) != 0)
        return InvalidArgument("Mode may not set setuid, setgid or sticky");
      r.mode_given = true;
    } else if (name == "Reload") {
      KW_RETURN_IF_ERROR(CheckReload(value));
      r.reload = value;
    } else if (name == "ReloadTimeoutSeconds" || name == "HealthTimeoutSeconds") {
      const auto n = Number(value, 1, 3600);
      if (!n) return InvalidArgument(name + " must be 1 to 3600");
      (name == "ReloadTimeoutSeconds" ? r.reload_timeout : r.health_timeout) =
          std::chrono::seconds(*n);
    } else if (name == "HealthCheck") {
      r.health_check = value;
    } else if (name == "User") {
      r.user = value;
    } else {
      return InvalidArgument("unknown secret sync parameter '" + name + "'");
    }
  }
  if (r.secret_id.empty()) return InvalidArgument("SecretId is required");
  if (r.version_id.empty()) return InvalidArgument("VersionId is required");
  if (!have_format) return InvalidArgument("Format is required");
  if (r.format == SyncFormat::kCredentialProcess) {
    if (!r.path.empty()) return InvalidArgument("Path is not used with Format credential-process");
    if (r.user.empty()) return InvalidArgument("Format credential-process needs User");
  } else {
    if (!r.path.is_absolute() || r.path.filename().empty() || r.path.filename() == "." ||
        r.path.filename() == "..") {
      return InvalidArgument("Path must be an absolute file path");
    }
    if (!r.user.empty()) return InvalidArgument("User is only for Format credential-process");
  }
  if (r.profile.empty() || r.profile.find_first_of("[]") != std::string::npos) {
    return InvalidArgument("Profile must be a name without brackets");
  }
  return r;
}

Result<SyncRequest> ParseSyncStep(const std::vector<std::string>& run_command) {
  if (run_command.empty() || run_command.front() != kSyncStepGuard) {
    return InvalidArgument("the keyward:syncSecret step is malformed (no guard line)");
  }
  std::map<std::string, std::string> params;
  for (std::size_t i = 1; i < run_command.size(); ++i) {
    const std::string& line = run_command[i];
    const auto eq = line.find('=');
    if (eq == std::string::npos || eq == 0) {
      return InvalidArgument("the keyward:syncSecret step is malformed (line " +
                             std::to_string(i + 1) + ")");
    }
    if (!params.emplace(line.substr(0, eq), line.substr(eq + 1)).second) {
      return InvalidArgument("parameter " + line.substr(0, eq) + " is given twice");
    }
  }
  return ParseSyncParameters(params);
}

Result<SyncedKey> KeyFromSecretString(std::string_view secret_string, std::string version_id) {
  SyncedKey key;
  key.version_id = std::move(version_id);
  json j = json::parse(secret_string, nullptr, false);
  const char* shape =
      "the secret is not a JSON object with string members aws_access_key_id and "
      "aws_secret_access_key";
  if (j.is_discarded() || !j.is_object()) return InvalidArgument(shape);
  auto id = j.find("aws_access_key_id");
  auto secret = j.find("aws_secret_access_key");
  if (id == j.end() || secret == j.end() || !id->is_string() || !secret->is_string()) {
    return InvalidArgument(shape);
  }
  key.access_key_id = id->get<std::string>();
  key.secret_access_key = SecretBytes(secret->get<std::string>());
  // Overwrite the parsed copy before it is freed (json strings are not zeroised).
  std::string& s = secret->get_ref<std::string&>();
  std::fill(s.begin(), s.end(), '\0');
  for (std::string_view v : {std::string_view(key.access_key_id), key.secret_access_key.Reveal()}) {
    if (v.empty() || v.find_first_of("\r\n\"\\") != std::string_view::npos) {
      return InvalidArgument("the secret's access key is empty or holds a line break or quote");
    }
  }
  key.secret_string = SecretBytes(std::string(secret_string));
  return key;
}

SecretFetcher EnvironmentSecretFetcher(const std::vector<std::string>& environment,
                                       std::string ca_file, const Clock& clock) {
  const std::string endpoint = EnvValue(environment, "KEYWARD_ENDPOINT");
  const std::string region = EnvValue(environment, "AWS_REGION");
  const std::string access_key_id = EnvValue(environment, "AWS_ACCESS_KEY_ID");
  auto secret = std::make_shared<SecretBytes>(EnvValue(environment, "AWS_SECRET_ACCESS_KEY"));
  const std::string token = EnvValue(environment, "AWS_SESSION_TOKEN");
  return [=, &clock](const std::string& secret_id,
                     const std::string& version_id) -> Result<SyncedKey> {
    if (access_key_id.empty()) {
      return Unavailable("the agent has no instance credentials yet to fetch the secret with");
    }
    KW_ASSIGN_OR_RETURN(ServerUrl server, ParseServerUrl(endpoint));
    const std::string body = json{{"SecretId", secret_id}, {"VersionId", version_id}}.dump();
    const std::string target = server.base_path + "/";
    HeaderList headers = {{"Host", server.host_header},
                          {"Content-Type", "application/x-amz-json-1.1"},
                          {"X-Amz-Target", "secretsmanager.GetSecretValue"}};
    sigv4::Credentials creds;
    creds.access_key_id = access_key_id;
    creds.secret_access_key = secret->Clone();
    creds.session_token = token;
    sigv4::SigningParams params;
    params.region = region;
    params.service = "secretsmanager";
    params.time = clock.Now();
    const sigv4::RequestView view{"POST", target, headers, body};
    HeaderList auth = sigv4::Sign(view, creds, params);
    headers.insert(headers.end(), auth.begin(), auth.end());
    KW_ASSIGN_OR_RETURN(HttpReply reply,
                        HttpRequest(server, "POST", target, headers, body, TlsOptions{ca_file},
                                    std::chrono::seconds(30)));
    json j = json::parse(reply.body, nullptr, false);
    if (reply.status != 200) {
      std::string type = "HTTP " + std::to_string(reply.status);
      std::string message;
      if (j.is_object()) {
        type = j.value("__type", type);
        message = j.value("message", j.value("Message", ""));
      }
      Error e = reply.status >= 500 ? Unavailable("GetSecretValue: " + type + ": " + message)
                                    : PermissionDenied("GetSecretValue: " + type + ": " + message);
      e.reason = type;
      return e;
    }
    if (!j.is_object() || !j.contains("SecretString") || !j["SecretString"].is_string()) {
      return Internal("GetSecretValue: the answer holds no SecretString");
    }
    std::string& value = j["SecretString"].get_ref<std::string&>();
    auto key = KeyFromSecretString(value, j.value("VersionId", ""));
    std::fill(value.begin(), value.end(), '\0');
    if (key && key->version_id != version_id) {
      return Internal("GetSecretValue answered another version than " + version_id);
    }
    return key;
  };
}

Result<SecretBytes> RenderSyncedContent(const SyncRequest& request, std::string_view current,
                                        const SyncedKey& key) {
  switch (request.format) {
    case SyncFormat::kCredentials: {
      KW_ASSIGN_OR_RETURN(std::string text,
                          SetProfileAccessKey(current, request.profile, key.access_key_id,
                                              key.secret_access_key.Reveal()));
      return SecretBytes(std::move(text));
    }
    case SyncFormat::kEnv: {
      // Replace our lines where they are (first occurrence), drop duplicates and any
      // session token, keep every other line; append what was missing.
      std::string out;
      bool id_done = false;
      bool secret_done = false;
      std::string_view rest = current;
      while (!rest.empty()) {
        const auto nl = rest.find('\n');
        const std::string_view line =
            rest.substr(0, nl == std::string_view::npos ? rest.size() : nl);
        rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
        std::string_view t = line;
        // A sourced file's `export` stays, or the variable would no longer be exported.
        const std::string prefix = t.rfind("export ", 0) == 0 ? "export " : "";
        t.remove_prefix(prefix.size());
        if (t.rfind("AWS_ACCESS_KEY_ID=", 0) == 0) {
          if (!id_done) out += prefix + "AWS_ACCESS_KEY_ID=" + key.access_key_id + "\n";
          id_done = true;
          continue;
        }
        if (t.rfind("AWS_SECRET_ACCESS_KEY=", 0) == 0) {
          if (!secret_done) {
            out += prefix + "AWS_SECRET_ACCESS_KEY=";
            out += key.secret_access_key.Reveal();
            out += "\n";
          }
          secret_done = true;
          continue;
        }
        if (t.rfind("AWS_SESSION_TOKEN=", 0) == 0 || t.rfind("AWS_SECURITY_TOKEN=", 0) == 0) {
          continue;
        }
        out += line;
        out += '\n';
      }
      if (!id_done) out += "AWS_ACCESS_KEY_ID=" + key.access_key_id + "\n";
      if (!secret_done) {
        out += "AWS_SECRET_ACCESS_KEY=";
        out += key.secret_access_key.Reveal();
        out += "\n";
      }
      return SecretBytes(std::move(out));
    }
    case SyncFormat::kJson:
      return key.secret_string.Clone();
    case SyncFormat::kCredentialProcess: {
      json j = {{"Version", 1},
                {"AccessKeyId", key.access_key_id},
                {"SecretAccessKey", std::string(key.secret_access_key.Reveal())}};
      std::string text = j.dump() + "\n";
      std::string& s = j["SecretAccessKey"].get_ref<std::string&>();
      std::fill(s.begin(), s.end(), '\0');
      return SecretBytes(std::move(text));
    }
  }
  return Internal("unknown format");
}

Status InstallFileAtomic(const fs::path& path, std::string_view content,
                         const FileOwnership& ownership) {
  KW_ASSIGN_OR_RETURN(TargetDir t, OpenTargetDir(path));
  return InstallAt(t, content, ownership);
}

Result<SyncLock> SyncLock::Acquire(const fs::path& target, std::chrono::milliseconds wait) {
  const fs::path lock = target.parent_path() / ("." + target.filename().string() + ".keyward-lock");
  const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return Errno(errno, "open lock file", lock);
  SyncLock held(fd);
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) return Errno(errno, "lock", lock);
    if (std::chrono::steady_clock::now() >= deadline) {
      return Unavailable("another sync holds " + lock.string());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return held;
}

SyncLock::~SyncLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

fs::path CredentialProcessRoot(const fs::path& state_dir) {
  fs::path p = state_dir.lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.parent_path() / (p.filename().string() + "-credentials");
}

fs::path CredentialProcessFile(const fs::path& state_dir, std::string_view secret_id) {
  return CredentialProcessRoot(state_dir) / EncodeSecretId(secret_id) / "credentials.json";
}

Result<std::string> SyncedCredentialProcessOutput(const fs::path& state_dir,
                                                  std::string_view secret_id) {
  const fs::path path = CredentialProcessFile(state_dir, secret_id);
  Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    if (errno == ENOENT) {
      return NotFound("secret " + std::string(secret_id) +
                      " has not been synced for credential_process on this host");
    }
    return Errno(errno, "open", path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 65536) {
    return FailedPrecondition(path.string() + " is not a small regular file");
  }
  std::string data(static_cast<std::size_t>(st.st_size), '\0');
  const ssize_t n = ::read(fd.get(), data.data(), data.size());
  if (n < 0) return Errno(errno, "read", path);
  data.resize(static_cast<std::size_t>(n));
  while (!data.empty() && data.back() == '\n') data.pop_back();
  return data;
}

agentproto::StepResult RunSecretSync(const agentproto::Step& step, const SyncContext& ctx,
                                     const CancelFlag& cancel, const Clock& clock) {
  agentproto::StepResult result;
  result.name = step.name;
  result.started_at =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now().time_since_epoch()).count();
  auto fail = [&](const std::string& why) {
    return Finish(std::move(result), "Failed", "", why, clock);
  };
  if (cancel.cancelled()) return Finish(std::move(result), "Cancelled", "", "", clock);

  auto parsed = ParseSyncStep(step.run_command);
  if (!parsed) return fail(parsed.error().message);
  const SyncRequest& req = *parsed;

  // Where, and as whom.
  fs::path path = req.path;
  std::optional<FileOwnership> wanted;  // nullopt: keep the existing file's (or agent's)
  if (req.format == SyncFormat::kCredentialProcess) {
    gid_t gid = 0;
    auto uid = ResolveUser(req.user, &gid);
    if (!uid) return fail(uid.error().message);
    auto file = PrepareCredentialProcessDir(ctx.state_dir, req.secret_id, *uid, gid);
    if (!file) return fail(file.error().message);
    path = *file;
    wanted = FileOwnership{*uid, gid, req.mode_given ? req.mode : mode_t{0400}};
  }

  auto dir = OpenTargetDir(path);
  if (!dir) return fail(dir.error().message);
  auto lock = SyncLock::Acquire(path, ctx.lock_wait);
  if (!lock) return fail(lock.error().message);
  RemoveStaleTemps(*dir);

  auto existing = ReadExisting(*dir);
  if (!existing) return fail(existing.error().message);

  FileOwnership own;
  if (wanted) {
    own = *wanted;
  } else {
    own.uid = *existing ? (*existing)->ownership.uid : ::geteuid();
    own.gid = *existing ? (*existing)->ownership.gid : ::getegid();
    own.mode = req.mode;
    if (!req.owner.empty()) {
      gid_t primary = own.gid;
      auto uid = ResolveUser(req.owner, &primary);
      if (!uid) return fail(uid.error().message);
      own.uid = *uid;
      if (req.group.empty()) own.gid = primary;
    }
    if (!req.group.empty()) {
      auto gid = ResolveGroup(req.group);
      if (!gid) return fail(gid.error().message);
      own.gid = *gid;
    }
  }

  auto key = ctx.fetch(req.secret_id, req.version_id);
  if (!key) return fail("cannot fetch the secret: " + key.error().message);
  const std::string_view current = *existing ? (*existing)->content.Reveal() : std::string_view();
  auto content = RenderSyncedContent(req, current, *key);
  if (!content) return fail(content.error().message);

  const std::string where =
      "version " + req.version_id + " of secret " + req.secret_id + " at " + path.string();
  if (*existing && (*existing)->content.Reveal() == content->Reveal()) {
    // Already installed (a re-delivered command): only make the ownership right.
    const FileOwnership& had = (*existing)->ownership;
    if (had.uid != own.uid || had.gid != own.gid || had.mode != own.mode) {
      if (auto st = InstallAt(*dir, content->Reveal(), own); !st) return fail(st.error().message);
    }
    return Finish(std::move(result), "Success", where + " is already installed\n", "", clock);
  }

  if (auto st = InstallAt(*dir, content->Reveal(), own); !st) {
    return fail("cannot install: " + st.error().message);
  }

  HookOutcome hook = RunReload(req, ctx, cancel, clock);
  if (hook.ok && !req.health_check.empty()) {
    hook = RunHookCommand("health check", req.health_check, req.health_timeout, ctx, cancel, clock);
  }
  if (hook.ok) {
    return Finish(std::move(result), "Success", "installed " + where + "\n", "", clock);
  }

  // Put the previous key back, so the consumer keeps a working key and the rotation
  // waits with the old one active.
  std::string why = hook.why + "; ";
  Status restored = *existing
                        ? InstallAt(*dir, (*existing)->content.Reveal(), (*existing)->ownership)
                        : RemoveAt(*dir);
  if (!restored) {
    why += "restoring the previous content failed too: " + restored.error().message;
  } else {
    why += *existing ? "the previous content of " + path.string() + " was restored"
                     : "the new file " + path.string() + " was removed";
    const CancelFlag none;  // the reload after a rollback runs even if cancelled
    HookOutcome again = RunReload(req, ctx, none, clock);
    if (!again.ok) why += "; " + again.why + " after restoring";
  }
  return Finish(std::move(result), hook.cancelled ? "Cancelled" : "Failed", "", why, clock);
}

}  // namespace kw::agent
