#include "agent/state_dir.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/seen_commands.hpp"

namespace kw::agent {
namespace {

namespace fs = std::filesystem;

mode_t ModeOf(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 0777;
}

class StateDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kw_agent_state_XXXXXX";
    base_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(base_); }
  fs::path base_;
};

TEST_F(StateDirTest, FilesHaveOwnerOnlyModes) {
  const StateDir state(base_ / "var/lib/keyward-agent");
  ASSERT_TRUE(state.Ensure().has_value());
  EXPECT_EQ(ModeOf(state.root()), 0700u);
  EXPECT_EQ(ModeOf(state.work_dir()), 0700u);
  ASSERT_TRUE(state.WriteHostKey(SecretBytes("-----BEGIN PRIVATE KEY-----\n")).has_value());
  EXPECT_EQ(ModeOf(state.host_key_path()), 0600u);
  Registration r;
  r.instance_id = "mi-0123456789abcdef0";
  r.endpoint = "https://kw.example:8443";
  r.region = "eu-west-1";
  r.fingerprint = {{"machine_id", "aa"}, {"hostname", "bb"}};
  ASSERT_TRUE(state.WriteRegistration(r).has_value());
  EXPECT_EQ(ModeOf(state.registration_path()), 0600u);
  auto back = state.ReadRegistration();
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->instance_id, r.instance_id);
  EXPECT_EQ(back->fingerprint, r.fingerprint);
  AgentStatus s;
  s.connection = "connected";
  ASSERT_TRUE(state.WriteStatus(s).has_value());
  EXPECT_EQ(ModeOf(state.status_path()), 0644u);
  EXPECT_EQ(state.ReadStatus()->connection, "connected");

  // An existing directory with loose permissions is tightened.
  ::chmod(state.root().c_str(), 0755);
  ASSERT_TRUE(state.Ensure().has_value());
  EXPECT_EQ(ModeOf(state.root()), 0700u);
}

TEST_F(StateDirTest, MissingRegistrationIsNotFound) {
  const StateDir state(base_);
  auto r = state.ReadRegistration();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
}

agentproto::ResultMessage ResultFor(const std::string& id, std::string output = "out") {
  agentproto::ResultMessage r;
  r.command_id = id;
  r.status = "Success";
  r.response_code = 0;
  agentproto::StepResult step;
  step.name = "s";
  step.status = "Success";
  step.response_code = 0;
  step.standard_output = std::move(output);
  r.steps.push_back(step);
  return r;
}

TEST_F(StateDirTest, SeenCommandsDeduplicateAcrossInstances) {
  const fs::path file = base_ / "seen-commands";
  {
    SeenCommands seen(file);
    auto first = seen.Insert("c1");
    ASSERT_TRUE(first.has_value());
    EXPECT_FALSE(first->has_value());  // new
    auto again = seen.Insert("c1");
    ASSERT_TRUE(again.has_value() && again->has_value());
    EXPECT_FALSE((*again)->result.has_value());  // not finished yet
    ASSERT_TRUE(seen.RecordResult(ResultFor("c1")).has_value());
  }
  EXPECT_EQ(ModeOf(file), 0600u);
  SeenCommands reopened(file);  // as after a restart
  auto entry = reopened.Insert("c1");
  ASSERT_TRUE(entry.has_value() && entry->has_value());
  ASSERT_TRUE((*entry)->result.has_value());
  EXPECT_EQ((*entry)->result->status, "Success");
  EXPECT_EQ((*entry)->result->steps.at(0).standard_output, "out");

  auto undelivered = reopened.Undelivered();
  ASSERT_TRUE(undelivered.has_value());
  ASSERT_EQ(undelivered->size(), 1u);
  ASSERT_TRUE(reopened.MarkDelivered("c1").has_value());
  EXPECT_TRUE(reopened.Undelivered()->empty());
}

TEST_F(StateDirTest, SeenCommandsAreBounded) {
  SeenCommands seen(base_ / "seen-commands", /*max_entries=*/3, /*max_result_bytes=*/600);
  for (const char* id : {"c1", "c2", "c3", "c4"}) {
    ASSERT_TRUE(seen.Insert(id).has_value());
    ASSERT_TRUE(seen.RecordResult(ResultFor(id, std::string(200, 'x'))).has_value());
  }
  // c1 fell out of the window: it reads as new.
  auto c1 = seen.Insert("c1");
  ASSERT_TRUE(c1.has_value());
  EXPECT_FALSE(c1->has_value());
  // The newest results stay whole; older ones keep their status only.
  auto c4 = seen.Insert("c4");
  ASSERT_TRUE(c4.has_value() && c4->has_value() && (*c4)->result.has_value());
  EXPECT_EQ((*c4)->result->steps.size(), 1u);
  auto c3 = seen.Insert("c3");
  ASSERT_TRUE(c3.has_value() && c3->has_value() && (*c3)->result.has_value());
  EXPECT_EQ((*c3)->result->status, "Success");
  EXPECT_TRUE((*c3)->result->steps.empty());  // trimmed to fit the byte budget
  auto c2 = seen.Insert("c2");
  ASSERT_TRUE(c2.has_value());
  EXPECT_FALSE(c2->has_value());  // pushed out by c1's re-insert (max 3 entries)
}

}  // namespace
}  // namespace kw::agent
