#include "agent/secret_sync.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

namespace kw::agent {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Spit(const fs::path& p, const std::string& s) { std::ofstream(p) << s; }

std::vector<std::string> Names(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

SyncedKey Key(const std::string& version, const std::string& id, const std::string& secret) {
  return *KeyFromSecretString(
      R"({"aws_access_key_id":")" + id + R"(","aws_secret_access_key":")" + secret + R"("})",
      version);
}

constexpr const char* kOld =
    "# managed by hand\n"
    "[default]\n"
    "aws_access_key_id = AKIAOTHER\n"
    "aws_secret_access_key = other-secret\n"
    "\n"
    "; the application's key\n"
    "[app]\n"
    "region = eu-west-1\n"
    "aws_access_key_id = AKIAOLD\n"
    "aws_secret_access_key = old-secret\n"
    "aws_session_token = stale\n";

TEST(SyncParametersTest, ValidatesEveryParameter) {
  std::map<std::string, std::string> p = {
      {"SecretId", "s"},         {"VersionId", "v"},
      {"Format", "credentials"}, {"Path", "/etc/app/credentials"},
      {"Mode", "0640"},          {"Reload", "signal:SIGHUP:/run/app.pid"}};
  auto ok = ParseSyncParameters(p);
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(ok->mode, 0640u);
  EXPECT_EQ(ok->profile, "default");

  auto with = [&](std::string k, std::string v) {
    auto q = p;
    q[k] = v;
    return ParseSyncParameters(q);
  };
  EXPECT_FALSE(with("Path", "relative/credentials"));
  EXPECT_FALSE(with("Mode", "600x"));
  EXPECT_FALSE(with("Mode", "4755"));
  EXPECT_FALSE(with("Format", "yaml"));
  EXPECT_FALSE(with("Reload", "restart:app"));
  EXPECT_FALSE(with("Reload", "signal:SIGKILL:/run/app.pid"));
  EXPECT_FALSE(with("Reload", "systemd:bad unit"));
  EXPECT_TRUE(with("Reload", "systemd:app@1.service"));
  EXPECT_FALSE(with("ReloadTimeoutSeconds", "0"));
  EXPECT_FALSE(with("HealthCheck", "true\nrm -rf /"));
  EXPECT_FALSE(with("Unknown", "x"));
  EXPECT_FALSE(with("User", "app"));  // only for credential-process
  auto q = p;
  q.erase("VersionId");
  EXPECT_FALSE(ParseSyncParameters(q));

  auto cp = p;
  cp["Format"] = "credential-process";
  EXPECT_FALSE(ParseSyncParameters(cp));  // Path given
  cp.erase("Path");
  EXPECT_FALSE(ParseSyncParameters(cp));  // no User
  cp["User"] = "app";
  EXPECT_TRUE(ParseSyncParameters(cp));
}

TEST(SyncParametersTest, StepNeedsTheGuardLine) {
  std::vector<std::string> lines = {kSyncStepGuard, "SecretId=s", "VersionId=v", "Format=json",
                                    "Path=/tmp/x.json"};
  EXPECT_TRUE(ParseSyncStep(lines));
  lines.erase(lines.begin());
  EXPECT_FALSE(ParseSyncStep(lines));
}

TEST(SyncRenderTest, CredentialsUpdateOneProfileKeepingTheRest) {
  SyncRequest req;
  req.format = SyncFormat::kCredentials;
  req.profile = "app";
  const SyncedKey key = Key("v2", "AKIANEW", "new-secret");
  auto out = RenderSyncedContent(req, kOld, key);
  ASSERT_TRUE(out.has_value()) << out.error().message;
  const std::string text(out->Reveal());
  EXPECT_EQ(text,
            "# managed by hand\n"
            "[default]\n"
            "aws_access_key_id = AKIAOTHER\n"
            "aws_secret_access_key = other-secret\n"
            "\n"
            "; the application's key\n"
            "[app]\n"
            "aws_access_key_id = AKIANEW\n"
            "aws_secret_access_key = new-secret\n"
            "region = eu-west-1\n");
  // Installing again changes nothing (idempotence is detected by equal content).
  auto again = RenderSyncedContent(req, text, key);
  EXPECT_EQ(again->Reveal(), text);
  // `default` is allowed here (unlike the agent's own profile).
  req.profile = "default";
  auto def = RenderSyncedContent(req, kOld, key);
  ASSERT_TRUE(def.has_value());
  EXPECT_NE(std::string(def->Reveal()).find("[default]\naws_access_key_id = AKIANEW\n"),
            std::string::npos);
  EXPECT_NE(std::string(def->Reveal()).find("aws_access_key_id = AKIAOLD"), std::string::npos);
}

TEST(SyncRenderTest, EnvJsonAndCredentialProcess) {
  SyncRequest req;
  req.format = SyncFormat::kEnv;
  const SyncedKey key = Key("v2", "AKIANEW", "new-secret");
  auto env = RenderSyncedContent(
      req, "APP_MODE=prod\nAWS_ACCESS_KEY_ID=AKIAOLD\nAWS_SESSION_TOKEN=x\n", key);
  EXPECT_EQ(env->Reveal(),
            "APP_MODE=prod\nAWS_ACCESS_KEY_ID=AKIANEW\nAWS_SECRET_ACCESS_KEY=new-secret\n");
  EXPECT_EQ(RenderSyncedContent(req, "export AWS_SECRET_ACCESS_KEY=old\n", key)->Reveal(),
            "export AWS_SECRET_ACCESS_KEY=new-secret\nAWS_ACCESS_KEY_ID=AKIANEW\n");
  req.format = SyncFormat::kJson;
  EXPECT_EQ(RenderSyncedContent(req, "", key)->Reveal(), key.secret_string.Reveal());
  req.format = SyncFormat::kCredentialProcess;
  EXPECT_EQ(RenderSyncedContent(req, "", key)->Reveal(),
            R"({"AccessKeyId":"AKIANEW","SecretAccessKey":"new-secret","Version":1})"
            "\n");
  EXPECT_FALSE(KeyFromSecretString(R"({"aws_access_key_id":"A"})", "v"));
  EXPECT_FALSE(KeyFromSecretString("not json", "v"));
}

class SecretSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kw_secret_sync_XXXXXX";
    root_ = ::mkdtemp(tmpl);
    dir_ = root_ / "app";
    fs::create_directories(dir_);
    fs::create_directories(root_ / "state" / "work");
    target_ = dir_ / "credentials";
    counter_ = root_ / "reloads";
    ctx_.fetch = [this](const std::string& id, const std::string& version) -> Result<SyncedKey> {
      ++fetches_;
      if (id != "app-key") return NotFound("no such secret");
      return Key(version, "AKIA" + version, "secret-of-" + version);
    };
    ctx_.state_dir = root_ / "state";
    ctx_.environment = {"PATH=/usr/bin:/bin", "AWS_ACCESS_KEY_ID=ASIAINSTANCE",
                        "KW_COUNTER=" + counter_.string()};
    ctx_.hook_script_base = root_ / "state" / "work" / "step";
    ctx_.kill_grace = 200ms;
  }
  void TearDown() override { fs::remove_all(root_); }

  agentproto::StepResult Sync(const std::string& version, std::vector<std::string> extra = {}) {
    agentproto::Step step;
    step.name = "syncSecret";
    step.action = kSyncSecretAction;
    step.run_command = {kSyncStepGuard, "SecretId=app-key", "VersionId=" + version};
    bool has_format = false;
    for (const auto& e : extra) has_format |= e.rfind("Format=", 0) == 0;
    if (!has_format) {
      step.run_command.push_back("Format=credentials");
      step.run_command.push_back("Path=" + target_.string());
      step.run_command.push_back("Profile=app");
    }
    for (auto& e : extra) step.run_command.push_back(std::move(e));
    CancelFlag none;
    return RunSecretSync(step, ctx_, none, clock_);
  }

  int Reloads() {
    const std::string s = Slurp(counter_);
    return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
  }

  fs::path root_, dir_, target_, counter_;
  SyncContext ctx_;
  SystemClock clock_;
  int fetches_ = 0;
};

TEST_F(SecretSyncTest, InstallsAtomicallyWithModeAndLeavesNothingBehind) {
  Spit(target_, kOld);
  // A temp file of an earlier, interrupted sync is removed.
  Spit(dir_ / ".credentials.keyward-tmp.1.1", "leftover");
  auto r = Sync("v2", {"Mode=0640", "Reload=command:echo reloaded >> \"$KW_COUNTER\""});
  ASSERT_EQ(r.status, "Success") << r.standard_error;
  EXPECT_NE(r.standard_output.find("installed version v2"), std::string::npos);
  const std::string text = Slurp(target_);
  EXPECT_NE(text.find("[app]\naws_access_key_id = AKIAv2\naws_secret_access_key = secret-of-v2\n"),
            std::string::npos);
  EXPECT_NE(text.find("# managed by hand\n[default]\naws_access_key_id = AKIAOTHER"),
            std::string::npos);
  EXPECT_EQ(text.find("stale"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat(target_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(Names(dir_), (std::vector<std::string>{".credentials.keyward-lock", "credentials"}));
  EXPECT_EQ(Reloads(), 1);
  // The secret never shows in the step's output.
  EXPECT_EQ(r.standard_output.find("secret-of"), std::string::npos);
}

TEST_F(SecretSyncTest, SameVersionAgainIsANoOp) {
  Spit(target_, kOld);
  const std::vector<std::string> reload = {"Reload=command:echo r >> \"$KW_COUNTER\""};
  ASSERT_EQ(Sync("v2", reload).status, "Success");
  const std::string first = Slurp(target_);
  auto again = Sync("v2", reload);
  EXPECT_EQ(again.status, "Success");
  EXPECT_NE(again.standard_output.find("already installed"), std::string::npos);
  EXPECT_EQ(Slurp(target_), first);
  EXPECT_EQ(Reloads(), 1);  // no second reload
}

TEST_F(SecretSyncTest, FailingHealthCheckRestoresThePreviousKey) {
  Spit(target_, kOld);
  ::chmod(target_.c_str(), 0644);
  auto r = Sync("v2", {"Reload=command:echo r >> \"$KW_COUNTER\"",
                       // The hook sees the new file, and not the agent's own credentials.
                       "HealthCheck=grep -q AKIAv2 " + target_.string() +
                           " && test -z \"$AWS_ACCESS_KEY_ID\" && echo ok >> " +
                           (root_ / "health").string() + " && exit 3"});
  EXPECT_EQ(r.status, "Failed");
  EXPECT_NE(r.standard_error.find("health check exited with 3"), std::string::npos)
      << r.standard_error;
  EXPECT_NE(r.standard_error.find("previous content"), std::string::npos);
  EXPECT_EQ(Slurp(root_ / "health"), "ok\n");
  EXPECT_EQ(Slurp(target_), kOld);
  struct stat st {};
  ASSERT_EQ(::stat(target_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);  // the old file's mode, too
  EXPECT_EQ(Reloads(), 2);               // after installing and after restoring
  EXPECT_EQ(Names(dir_), (std::vector<std::string>{".credentials.keyward-lock", "credentials"}));
}

TEST_F(SecretSyncTest, ReloadTimeoutRollsBackAndANewFileIsRemoved) {
  const auto start = std::chrono::steady_clock::now();
  auto r = Sync("v2", {"Reload=command:sleep 30", "ReloadTimeoutSeconds=1"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_EQ(r.status, "Failed");
  EXPECT_NE(r.standard_error.find("reload timed out after 1 s"), std::string::npos)
      << r.standard_error;
  EXPECT_FALSE(fs::exists(target_));  // there was no file before
}

TEST_F(SecretSyncTest, FetchErrorsFailWithoutTouchingTheFile) {
  Spit(target_, kOld);
  agentproto::Step step;
  step.action = kSyncSecretAction;
  step.run_command = {kSyncStepGuard, "SecretId=other", "VersionId=v2", "Format=json",
                      "Path=" + target_.string()};
  CancelFlag none;
  auto r = RunSecretSync(step, ctx_, none, clock_);
  EXPECT_EQ(r.status, "Failed");
  EXPECT_NE(r.standard_error.find("cannot fetch"), std::string::npos);
  EXPECT_EQ(Slurp(target_), kOld);
}

TEST_F(SecretSyncTest, RefusesASymlinkTarget) {
  Spit(root_ / "private", "root only\n");
  fs::create_symlink(root_ / "private", target_);
  auto r = Sync("v2");
  EXPECT_EQ(r.status, "Failed");
  EXPECT_NE(r.standard_error.find("symbolic link"), std::string::npos) << r.standard_error;
  EXPECT_EQ(Slurp(root_ / "private"), "root only\n");
}

TEST_F(SecretSyncTest, LockSerialisesSyncsOfOneFile) {
  auto held = SyncLock::Acquire(target_, 100ms);
  ASSERT_TRUE(held.has_value());
  auto second = SyncLock::Acquire(target_, 100ms);
  EXPECT_FALSE(second.has_value());
  ctx_.lock_wait = 100ms;
  auto step = Sync("v2");  // waits for the lock and gives up
  EXPECT_EQ(step.status, "Failed");
  EXPECT_FALSE(fs::exists(target_));
  { auto released = std::move(*held); }
  EXPECT_TRUE(SyncLock::Acquire(target_, 100ms).has_value());
  EXPECT_EQ(Sync("v2").status, "Success");
}

TEST_F(SecretSyncTest, InstallFileAtomicSetsOwnerAndMode) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give the file away";
  ASSERT_TRUE(InstallFileAtomic(target_, "content\n", {65534, 65534, 0440}));
  struct stat st {};
  ASSERT_EQ(::stat(target_.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(st.st_gid, 65534u);
  EXPECT_EQ(st.st_mode & 07777, 0440u);
  EXPECT_EQ(Slurp(target_), "content\n");
  EXPECT_EQ(Names(dir_), std::vector<std::string>{"credentials"});
}

TEST_F(SecretSyncTest, CredentialProcessIsReadableOnlyByItsUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch users";
  auto r = Sync("v3", {"Format=credential-process", "User=65534"});
  ASSERT_EQ(r.status, "Success") << r.standard_error;
  const fs::path file = CredentialProcessFile(ctx_.state_dir, "app-key");
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(st.st_mode & 07777, 0400u);
  EXPECT_EQ(file.parent_path().parent_path(), root_ / "state-credentials");
  ::chmod(root_.c_str(), 0755);  // mkdtemp made it 0700: let the users reach the tree

  // As the configured user: the JSON. As anyone else: refused by the file system.
  auto as = [&](uid_t uid) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      if (::setgid(uid) != 0 || ::setuid(uid) != 0) ::_exit(9);
      auto out = SyncedCredentialProcessOutput(ctx_.state_dir, "app-key");
      if (out &&
          *out == R"({"AccessKeyId":"AKIAv3","SecretAccessKey":"secret-of-v3","Version":1})") {
        ::_exit(0);
      }
      ::_exit(!out && out.error().code == ErrorCode::kPermissionDenied ? 1 : 2);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  EXPECT_EQ(as(65534), 0);
  EXPECT_EQ(as(12345), 1);
}

TEST(StepDispatchTest, SyncStepsDoNotRunAsShellScripts) {
  agentproto::Step step;
  step.name = "s";
  step.action = kSyncSecretAction;
  // Without the guard line the lines would be valid shell (assignments) and succeed.
  step.run_command = {"SecretId=x", "VersionId=y"};
  StepOptions options;
  options.script_path = "/tmp/kw-never-written.sh";
  CancelFlag none;
  SystemClock clock;
  auto r = RunStep(step, options, none, clock);
  EXPECT_EQ(r.status, "Failed");
  EXPECT_NE(r.standard_error.find("malformed"), std::string::npos);
}

}  // namespace
}  // namespace kw::agent
