#include "agent/step_runner.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "agent/command_runner.hpp"

namespace kw::agent {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class StepRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kw_agent_step_XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    options_.script_path = dir_ / "step.sh";
    options_.environment = {"PATH=/usr/bin:/bin", "KW_TEST_VAR=hello"};
    options_.kill_grace = 1s;
  }
  void TearDown() override { fs::remove_all(dir_); }

  agentproto::StepResult Run(std::vector<std::string> lines, std::int64_t timeout = 30,
                             const CancelFlag* cancel = nullptr) {
    agentproto::Step step;
    step.name = "s";
    step.run_command = std::move(lines);
    step.timeout_seconds = timeout;
    CancelFlag none;
    return RunStep(step, options_, cancel != nullptr ? *cancel : none, clock_);
  }

  // Running, not a zombie: a killed grandchild is reparented to PID 1, which in a
  // container may never reap it.
  static bool Alive(const fs::path& pid_file) {
    std::ifstream in(pid_file);
    pid_t pid = 0;
    in >> pid;
    if (pid <= 0) return false;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return false;
    const auto close = line.rfind(')');
    return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
  }

  fs::path dir_;
  StepOptions options_;
  SystemClock clock_;
};

TEST_F(StepRunnerTest, ExitCodesOutputAndEnvironment) {
  auto ok = Run({"echo out-$KW_TEST_VAR", "echo err >&2", "pwd"});
  EXPECT_EQ(ok.status, "Success");
  EXPECT_EQ(ok.response_code, 0);
  EXPECT_EQ(ok.standard_error, "err\n");
  EXPECT_EQ(ok.standard_output.substr(0, 10), "out-hello\n");
  EXPECT_LE(ok.started_at, ok.ended_at);
  EXPECT_FALSE(fs::exists(options_.script_path));  // the script is removed

  auto failed = Run({"echo before", "exit 3", "echo never"});
  EXPECT_EQ(failed.status, "Failed");
  EXPECT_EQ(failed.response_code, 3);
  EXPECT_EQ(failed.standard_output, "before\n");

  auto killed = Run({"kill -KILL $$"});
  EXPECT_EQ(killed.status, "Failed");
  EXPECT_EQ(killed.response_code, 128 + SIGKILL);
}

TEST_F(StepRunnerTest, RunsInTheWorkingDirectoryAndFailsForAMissingOne) {
  agentproto::Step step;
  step.run_command = {"pwd"};
  step.working_directory = dir_.string();
  CancelFlag none;
  auto r = RunStep(step, options_, none, clock_);
  EXPECT_EQ(r.status, "Success");
  EXPECT_EQ(r.standard_output, dir_.string() + "\n");
  step.working_directory = (dir_ / "missing").string();
  r = RunStep(step, options_, none, clock_);
  EXPECT_EQ(r.status, "Failed");
  EXPECT_NE(r.standard_error.find("working directory"), std::string::npos);
}

TEST_F(StepRunnerTest, TimeoutKillsTheWholeGroupIncludingGrandchildren) {
  const fs::path pid_file = dir_ / "grandchild.pid";
  const auto start = std::chrono::steady_clock::now();
  auto r = Run({"sleep 60 &", "echo $! > " + pid_file.string(), "echo started", "sleep 60"}, 1);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status, "TimedOut");
  EXPECT_EQ(r.standard_output, "started\n");
  EXPECT_LT(took, 10s);
  EXPECT_GE(took, 900ms);
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(Alive(pid_file));
}

TEST_F(StepRunnerTest, ProcessesIgnoringSigtermAreKilledAfterTheGrace) {
  const fs::path pid_file = dir_ / "stubborn.pid";
  auto r = Run({"sh -c 'trap \"\" TERM; echo $$ > " + pid_file.string() + "; sleep 60' &",
                "trap '' TERM", "sleep 60"},
               1);
  EXPECT_EQ(r.status, "TimedOut");
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(Alive(pid_file));
}

TEST_F(StepRunnerTest, KeepsAtMostTheSsmLimitsButDrainsEverything) {
  // 200,000 bytes of stdout and 50,000 of stderr: a child blocked on a full pipe would
  // never exit, so finishing proves the rest was drained.
  auto r = Run({"head -c 200000 /dev/zero | tr '\\0' a", "head -c 50000 /dev/zero | tr '\\0' b >&2",
                "echo done >&2"});
  EXPECT_EQ(r.status, "Success");
  EXPECT_EQ(r.standard_output.size(), agentproto::kMaxStdoutChars);
  EXPECT_EQ(r.standard_error.size(), agentproto::kMaxStderrChars);
  EXPECT_EQ(r.standard_output.find_first_not_of('a'), std::string::npos);
}

TEST_F(StepRunnerTest, CancelKillsTheGroup) {
  CancelFlag cancel;
  const fs::path pid_file = dir_ / "child.pid";
  std::thread canceller([&] {
    std::this_thread::sleep_for(300ms);
    cancel.Cancel();
  });
  const auto start = std::chrono::steady_clock::now();
  auto r = Run({"sleep 60 & echo $! > " + pid_file.string(), "wait"}, 60, &cancel);
  canceller.join();
  EXPECT_EQ(r.status, "Cancelled");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(Alive(pid_file));
  // A step started after the cancel does not run at all.
  auto after = Run({"touch " + (dir_ / "ran").string()}, 60, &cancel);
  EXPECT_EQ(after.status, "Cancelled");
  EXPECT_FALSE(fs::exists(dir_ / "ran"));
}

TEST(CommandRunner, StepsRunInOrderAndStopAfterAFailure) {
  char tmpl[] = "/tmp/kw_agent_cmd_XXXXXX";
  const fs::path dir = ::mkdtemp(tmpl);
  agentproto::CommandMessage c;
  c.command_id = "cmd-1";
  c.steps.resize(3);
  c.steps[0].name = "one";
  c.steps[0].run_command = {"echo one"};
  c.steps[1].name = "two";
  c.steps[1].run_command = {"echo two", "exit 7"};
  c.steps[2].name = "three";
  c.steps[2].run_command = {"touch " + (dir / "three").string()};
  CommandRunner::Options options;
  options.work_dir = dir;
  CancelFlag cancel;
  SystemClock clock;
  auto r = CommandRunner::Execute(c, options, cancel, {"PATH=/usr/bin:/bin"}, clock);
  EXPECT_EQ(r.command_id, "cmd-1");
  EXPECT_EQ(r.status, "Failed");
  EXPECT_EQ(r.response_code, 7);
  ASSERT_EQ(r.steps.size(), 2u);
  EXPECT_EQ(r.steps[0].standard_output, "one\n");
  EXPECT_EQ(r.steps[1].standard_output, "two\n");
  EXPECT_FALSE(fs::exists(dir / "three"));
  fs::remove_all(dir);
}

TEST(CommandRunner, RunsConcurrentlyUpToTheBoundAndCancelsQueuedOnes) {
  char tmpl[] = "/tmp/kw_agent_cmd_XXXXXX";
  const fs::path dir = ::mkdtemp(tmpl);
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, agentproto::ResultMessage> results;
  SystemClock clock;
  CommandRunner::Options options;
  options.work_dir = dir;
  options.max_concurrent = 2;
  options.kill_grace = 1s;
  {
    CommandRunner runner(
        options, clock, [] { return std::vector<std::string>{"PATH=/usr/bin:/bin"}; },
        [&](const agentproto::ResultMessage& r) {
          std::lock_guard lock(mu);
          results[r.command_id] = r;
          cv.notify_all();
        });
    auto make = [](std::string id, std::string line) {
      agentproto::CommandMessage c;
      c.command_id = std::move(id);
      c.steps.resize(1);
      c.steps[0].run_command = {std::move(line)};
      return c;
    };
    const auto start = std::chrono::steady_clock::now();
    runner.Start(make("a", "sleep 1"));
    runner.Start(make("b", "sleep 1"));
    runner.Start(make("c", "echo c"));          // waits for a slot
    runner.Start(make("d", "echo d"));          // cancelled while queued
    runner.Start(make("a", "echo duplicate"));  // ignored: already active
    EXPECT_TRUE(runner.Cancel("d"));
    EXPECT_FALSE(runner.Cancel("unknown"));
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 20s, [&] { return results.size() == 4; }));
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_LT(took, 1900ms);  // a and b ran side by side
    EXPECT_EQ(results["a"].status, "Success");
    EXPECT_EQ(results["b"].status, "Success");
    EXPECT_EQ(results["c"].steps.at(0).standard_output, "c\n");
    EXPECT_EQ(results["d"].status, "Cancelled");
    EXPECT_TRUE(results["d"].steps.empty());
  }
  fs::remove_all(dir);
}

TEST(CommandRunner, ChildEnvironmentCarriesInstanceCredentialsAndEndpoint) {
  const auto env = StepEnvironment({"PATH=/bin", "AWS_ACCESS_KEY_ID=AKIAOLD", "AWS_PROFILE=x"},
                                   "ASIANEW", "sek", "tok", "eu-west-1", "https://kw:8443");
  auto has = [&](const std::string& e) {
    return std::find(env.begin(), env.end(), e) != env.end();
  };
  EXPECT_TRUE(has("PATH=/bin"));
  EXPECT_FALSE(has("AWS_ACCESS_KEY_ID=AKIAOLD"));
  EXPECT_FALSE(has("AWS_PROFILE=x"));
  EXPECT_TRUE(has("AWS_ACCESS_KEY_ID=ASIANEW"));
  EXPECT_TRUE(has("AWS_SECRET_ACCESS_KEY=sek"));
  EXPECT_TRUE(has("AWS_SESSION_TOKEN=tok"));
  EXPECT_TRUE(has("AWS_DEFAULT_REGION=eu-west-1"));
  EXPECT_TRUE(has("AWS_REGION=eu-west-1"));
  EXPECT_TRUE(has("AWS_ENDPOINT_URL=https://kw:8443"));
  EXPECT_TRUE(has("KEYWARD_ENDPOINT=https://kw:8443"));
}

}  // namespace
}  // namespace kw::agent
