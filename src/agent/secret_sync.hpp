#pragma once

// Agent secret sync: the keyward:syncSecret step (document Keyward-SyncSecret). The agent
// fetches one version of a secret holding an access key (SecretString JSON with
// aws_access_key_id and aws_secret_access_key) with Secrets Manager GetSecretValue,
// signed with its own instance credentials, so the key itself never travels in a
// command (commands are stored and listed). It then installs it:
//
//   credentials          one profile of an AWS shared-credentials file; every other
//                        profile, comment and line is kept
//   env                  AWS_ACCESS_KEY_ID= / AWS_SECRET_ACCESS_KEY= lines of an
//                        environment file (other lines kept, AWS_SESSION_TOKEN dropped)
//   json                 the SecretString as it is
//   credential-process   a file readable only by one local user, which
//                        `keyward-agent credential-process --secret-id` prints
//
// Every install is atomic under an flock on a sibling lock file: the new content goes
// into a temporary file in the same directory whose owner and mode are set before any
// byte of it is written, which is fsynced and renamed over the target, and the directory
// is fsynced; a reader sees the whole old or the whole new file. No backup is written:
// the previous content is held in memory only, for a rollback. Then the reload hook runs
// (a command, a signal from a pid file, or `systemctl reload UNIT`) with a timeout, then
// the health check; if either fails the previous content is put back the same way, the
// reload hook runs again, and the step fails with a reason that holds no secret, so the
// rotation waits with the old key. A version that is already installed is a no-op.
//
// The step's parameters reach the agent as `Name=value` lines in Step::run_command,
// after a first line `exit 1 ...` (kSyncStepGuard) that makes an agent too old to know
// the action fail the step instead of acknowledging it.
//
// Thread-safe: no shared state; concurrent syncs of one file serialise on its lock.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "agent/step_runner.hpp"
#include "agentproto/agent_protocol.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "common/secret_bytes.hpp"

namespace kw::agent {

using agentproto::kSyncSecretAction;
using agentproto::kSyncStepGuard;

enum class SyncFormat { kCredentials, kEnv, kJson, kCredentialProcess };

// What one step asks for. Parameter names as in the Keyward-SyncSecret document.
struct SyncRequest {
  std::string secret_id;                         // SecretId (required)
  std::string version_id;                        // VersionId (required)
  SyncFormat format = SyncFormat::kCredentials;  // Format
  std::filesystem::path path;                    // Path: absolute; not for credential-process
  std::string profile = "default";               // Profile (credentials)
  std::string owner;                             // Owner: user name or uid; empty: keep/agent's
  std::string group;                             // Group: group name or gid; empty: keep/agent's
  mode_t mode = 0600;                            // Mode (octal)
  bool mode_given = false;
  std::string reload;  // Reload: command:CMD | signal:SIGHUP:/pid/file | systemd:UNIT
  std::chrono::seconds reload_timeout{30};  // ReloadTimeoutSeconds, 1..3600
  std::string health_check;                 // HealthCheck: a shell command, exit 0 = healthy
  std::chrono::seconds health_timeout{30};  // HealthTimeoutSeconds, 1..3600
  std::string user;                         // User (credential-process, required there)
};

// kInvalidArgument naming the parameter for anything malformed: unknown names, a missing
// SecretId/VersionId, a relative Path, a Path with credential-process, a bad Mode, an
// unknown reload kind or signal, timeouts out of range, User missing for
// credential-process.
Result<SyncRequest> ParseSyncParameters(const std::map<std::string, std::string>& parameters);
// Step::run_command as rendered from the document: kSyncStepGuard, then `Name=value`.
Result<SyncRequest> ParseSyncStep(const std::vector<std::string>& run_command);

// The key a secret version holds.
struct SyncedKey {
  std::string version_id;
  std::string access_key_id;
  SecretBytes secret_access_key;
  SecretBytes secret_string;  // the SecretString as stored (json format)
};

// Fetches version `version_id` of `secret_id`. Errors are for the operator (no secret).
using SecretFetcher =
    std::function<Result<SyncedKey>(const std::string& secret_id, const std::string& version_id)>;

// Reads the key out of a SecretString: kInvalidArgument unless it is a JSON object with
// string members aws_access_key_id and aws_secret_access_key (no line breaks).
Result<SyncedKey> KeyFromSecretString(std::string_view secret_string, std::string version_id);

// GetSecretValue over HTTP(S) to the server named by KEYWARD_ENDPOINT in `environment`
// (the step environment: instance credentials and region come from it too), verifying
// TLS with `ca_file` when set.
SecretFetcher EnvironmentSecretFetcher(const std::vector<std::string>& environment,
                                       std::string ca_file, const Clock& clock);

// ---- pure rendering ----

// The file content after installing `key` into `current` (the file as it is, empty when
// absent) in `format`. kInvalidArgument for a bad profile name.
Result<SecretBytes> RenderSyncedContent(const SyncRequest& request, std::string_view current,
                                        const SyncedKey& key);

// ---- files ----

struct FileOwnership {
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t mode = 0600;
};

// Replaces `path` atomically: temp file beside it (O_EXCL, O_NOFOLLOW), fchown and fchmod
// before the content is written, fsync, rename, fsync of the directory. The temp file is
// removed on failure. A symbolic link at `path` is replaced, not followed.
Status InstallFileAtomic(const std::filesystem::path& path, std::string_view content,
                         const FileOwnership& ownership);

// An exclusive flock on `<dir>/.<name>.keyward-lock` (created 0600, never a symlink),
// held until destruction. Waits up to `wait`.
class SyncLock {
 public:
  static Result<SyncLock> Acquire(const std::filesystem::path& target,
                                  std::chrono::milliseconds wait);
  SyncLock(SyncLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  SyncLock& operator=(SyncLock&&) = delete;
  SyncLock(const SyncLock&) = delete;
  ~SyncLock();

 private:
  explicit SyncLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// Where format credential-process keeps the key of `secret_id`: a directory per secret
// under `<state_dir>-credentials/` (0711, so users can traverse but not list it), owned
// by the configured user with mode 0700, holding credentials.json (0400 by default).
std::filesystem::path CredentialProcessRoot(const std::filesystem::path& state_dir);
std::filesystem::path CredentialProcessFile(const std::filesystem::path& state_dir,
                                            std::string_view secret_id);

// The credential_process JSON for `secret_id` (what `keyward-agent credential-process
// --secret-id` prints). kPermissionDenied when the calling user may not read it;
// kNotFound when that secret was never synced in credential-process format.
Result<std::string> SyncedCredentialProcessOutput(const std::filesystem::path& state_dir,
                                                  std::string_view secret_id);

// ---- the step ----

struct SyncContext {
  SecretFetcher fetch;
  std::filesystem::path state_dir;         // for credential-process
  std::vector<std::string> environment;    // hooks get it without AWS credential variables
  std::filesystem::path hook_script_base;  // hook scripts are written next to this
  std::chrono::milliseconds kill_grace = std::chrono::seconds(5);
  std::chrono::milliseconds lock_wait = std::chrono::seconds(60);
};

// Runs one sync. The result's standard_output says what was installed (or that the
// version was already installed); a failure's standard_error says why (never secret).
agentproto::StepResult RunSecretSync(const agentproto::Step& step, const SyncContext& context,
                                     const CancelFlag& cancel, const Clock& clock);

}  // namespace kw::agent
