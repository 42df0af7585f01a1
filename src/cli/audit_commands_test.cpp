#include "cli/scripted_app_test_support.hpp"

namespace kw::cli {
namespace {

using nlohmann::json;

class AuditCommandsTest : public test_support::ScriptedAppTest {
 protected:
  static json Finding(const char* id, const char* severity, const char* type) {
    return {{"FindingId", id},     {"Type", type},     {"Severity", severity},
            {"Resource", "AKIA1"}, {"Summary", "s"},   {"State", "ACTIVE"},
            {"Count", 2},          {"FirstSeen", 1e9}, {"LastSeen", 1e9}};
  }
  void ReplyAudit() {
    transport_.Reply(200, {{"Observed", 2}, {"Created", 1}, {"Resolved", 0}});
    transport_.Reply(200, {{"Findings",
                            {Finding("f-1", "MEDIUM", "AccessKeyNeverUsed"),
                             Finding("f-2", "CRITICAL", "OwnerDeparted")}}});
  }
};

TEST_F(AuditCommandsTest, FailOnExitsNonZeroAtOrAboveTheSeverity) {
  ReplyAudit();
  EXPECT_EQ(Run({"audit", "--fail-on", "critical"}), 1);
  EXPECT_NE(err_.str().find("1 active finding(s) at or above CRITICAL"), std::string::npos);
  // Most severe first.
  EXPECT_LT(out_.str().find("OwnerDeparted"), out_.str().find("AccessKeyNeverUsed"));
  EXPECT_EQ(Header(0, "X-Amz-Target"), "Keyward.RunAudit");
  EXPECT_EQ(Header(1, "X-Amz-Target"), "Keyward.ListFindings");
  EXPECT_EQ(Body(1)["State"], "ACTIVE");
  EXPECT_EQ(Body(1)["MaxResults"], 1000);  // the largest page: fewer round trips

  transport_.requests.clear();
  transport_.Reply(200, {{"Observed", 1}});
  transport_.Reply(200, {{"Findings", {Finding("f-1", "MEDIUM", "AccessKeyNeverUsed")}}});
  EXPECT_EQ(Run({"audit", "--fail-on", "high"}), 0);
}

TEST_F(AuditCommandsTest, FormatOptionOverridesOutput) {
  ReplyAudit();
  EXPECT_EQ(Run({"audit", "--format", "csv"}), 0);
  EXPECT_EQ(out_.str().rfind("Severity,Type,Resource", 0), 0u) << out_.str();
  ReplyAudit();
  EXPECT_EQ(Run({"audit", "--format", "json"}), 0);
  auto doc = json::parse(out_.str());
  EXPECT_EQ(doc["Findings"].size(), 2u);
  EXPECT_EQ(doc["Findings"][0]["FindingId"], "f-2");
  EXPECT_EQ(Run({"audit", "--fail-on", "severe"}), 1);
  EXPECT_EQ(Run({"audit", "--format", "xml"}), 1);
}

TEST_F(AuditCommandsTest, OffboardDryRunAndFailure) {
  transport_.Reply(200, {{"Offboarding",
                          {{"Person", "alice"},
                           {"DryRun", true},
                           {"Status", "dry-run"},
                           {"Users", {{{"UserName", "svc"}}}},
                           {"AccessKeys",
                            {{{"UserName", "svc"},
                              {"AccessKeyId", "AKIA1"},
                              {"WasActive", true},
                              {"Action", "would-deactivate"}}}}}}});
  EXPECT_EQ(Run({"offboard", "alice", "--dry-run"}), 0);
  EXPECT_EQ(Body(0)["DryRun"], true);
  EXPECT_EQ(Body(0)["Person"], "alice");
  EXPECT_NE(out_.str().find("would-deactivate"), std::string::npos);
  EXPECT_NE(out_.str().find("dry run: nothing was changed"), std::string::npos);

  transport_.Reply(200, {{"Offboarding",
                          {{"Person", "alice"},
                           {"Status", "failed"},
                           {"Users", {{{"UserName", "svc"}, {"Error", "store busy"}}}},
                           {"AccessKeys", json::array()}}}});
  EXPECT_EQ(Run({"offboard", "alice", "--reason", "left"}), 1);
  EXPECT_EQ(Body(1)["DryRun"], false);
  EXPECT_EQ(Body(1)["Reason"], "left");
  EXPECT_NE(out_.str().find("FAILED: store busy"), std::string::npos);
}

}  // namespace
}  // namespace kw::cli
