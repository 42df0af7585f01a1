#include "cli/scripted_app_test_support.hpp"

namespace kw::cli {
namespace {

using nlohmann::json;

class RotationCommandsTest : public test_support::ScriptedAppTest {};

constexpr const char* kPolicy = "rp-0123456789abcdef";
constexpr const char* kRotation = "rp-0123456789abcdef.00000001";
constexpr double kT0 = 1767323045;  // 2026-01-02T03:04:05Z

json Policy() {
  return {{"PolicyId", kPolicy},
          {"UserName", "app"},
          {"SecretId", "app/creds"},
          {"ScheduleExpression", "rate(30 days)"},
          {"Targets",
           {{{"Key", "InstanceIds"}, {"Values", {"mi-1", "mi-2"}}},
            {{"Key", "tag:Role"}, {"Values", {"web"}}}}},
          {"Delivery", {{"Type", "document"}, {"Parameters", {{"document", "Sync"}}}}},
          {"QuietPeriodSeconds", 900},
          {"CreatedDate", kT0},
          {"NextRotationDate", kT0 + 86400}};
}

json Rotation() {
  return {{"RotationId", kRotation},
          {"PolicyId", kPolicy},
          {"UserName", "app"},
          {"SecretId", "app/creds"},
          {"Step", "distribute"},
          {"WaitingReason", "waiting for 1 host: mi-2"},
          {"History",
           {{{"Step", "queued"}, {"EnteredDate", kT0}},
            {{"Step", "distribute"}, {"EnteredDate", kT0 + 60}}}},
          {"Hosts",
           {{{"InstanceId", "mi-1"}, {"Status", "acked"}, {"AckedDate", kT0 + 120}},
            {{"InstanceId", "mi-2"}, {"Status", "pending"}}}}};
}

TEST_F(RotationCommandsTest, CreateSendsThePolicy) {
  transport_.Reply(200, {{"RotationPolicy", Policy()}});
  ASSERT_EQ(Run({"rotation",       "create",
                 "--user",         "app",
                 "--secret",       "app/creds",
                 "--document",     "Sync",
                 "--parameter",    "commands=sync {{SecretId}},now",
                 "--targets",      "mi-1,tag:Role=web",
                 "--targets",      "mi-2",
                 "--schedule",     "rate(30 days)",
                 "--quiet-period", "15m",
                 "--ack-timeout",  "1h",
                 "--grace-period", "1d12h"}),
            0)
      << err_.str();
  ASSERT_EQ(transport_.requests.size(), 1u);
  EXPECT_EQ(Header(0, "X-Amz-Target"), "Keyward.CreateRotationPolicy");
  EXPECT_EQ(Scope(0), "20260102/us-east-1/keyward/aws4_request");
  const json body = Body(0);
  EXPECT_EQ(body["UserName"], "app");
  EXPECT_EQ(body["SecretId"], "app/creds");
  EXPECT_EQ(
      body["Delivery"],
      json({{"Type", "document"},
            {"Parameters", {{"document", "Sync"}, {"param:commands", "sync {{SecretId}},now"}}}}));
  EXPECT_EQ(body["Targets"], json::array({{{"Key", "InstanceIds"}, {"Values", {"mi-1", "mi-2"}}},
                                          {{"Key", "tag:Role"}, {"Values", {"web"}}}}));
  EXPECT_EQ(body["ScheduleExpression"], "rate(30 days)");
  EXPECT_FALSE(body.contains("AutomaticallyAfterDays"));
  EXPECT_EQ(body["QuietPeriodSeconds"], 900);
  EXPECT_EQ(body["AckTimeoutSeconds"], 3600);
  EXPECT_EQ(body["GracePeriodSeconds"], 36 * 3600);
  EXPECT_NE(out_.str().find(kPolicy), std::string::npos);
  EXPECT_NE(out_.str().find("2026-01-03T03:04:05Z"), std::string::npos) << out_.str();
}

TEST_F(RotationCommandsTest, CreatePassesOtherDeliveriesIssuersAndStoresThrough) {
  transport_.Reply(200, {{"RotationPolicy", Policy()}});
  ASSERT_EQ(Run({"rotation",        "create",
                 "--user",          "app",
                 "--secret",        "app/creds",
                 "--delivery",      "agent-sync",
                 "--parameter",     "format=credentials",
                 "--parameter",     "path=/etc/app/credentials",
                 "--targets",       "tag:Role=web",
                 "--issuer",        "aws-prod",
                 "--secret-target", "aws-sm",
                 "--after-days",    "90"}),
            0)
      << err_.str();
  json body = Body(0);
  EXPECT_EQ(body["Delivery"],
            json({{"Type", "agent-sync"},
                  {"Parameters", {{"format", "credentials"}, {"path", "/etc/app/credentials"}}}}));
  EXPECT_EQ(body["Issuer"], "aws-prod");
  EXPECT_EQ(body["SecretTarget"], "aws-sm");

  // No hosts: no targets needed, and none sent.
  transport_.Reply(200, {{"RotationPolicy", Policy()}});
  ASSERT_EQ(Run({"rotation", "create", "--user", "app", "--secret", "s", "--delivery", "none",
                 "--after-days", "90"}),
            0)
      << err_.str();
  body = Body(1);
  EXPECT_EQ(body["Delivery"]["Type"], "none");
  EXPECT_FALSE(body.contains("Targets"));
  EXPECT_FALSE(body.contains("Issuer"));
}

TEST_F(RotationCommandsTest, CreateRejectsBadOptionsWithoutCallingTheServer) {
  const std::vector<const char*> base = {"rotation", "create", "--user",     "app",
                                         "--secret", "s",      "--document", "D"};
  auto with = [&base](std::vector<const char*> extra) {
    std::vector<const char*> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  // Neither or both of --schedule and --after-days.
  EXPECT_EQ(Run(with({"--targets", "mi-1"})), 1);
  EXPECT_EQ(Run(with({"--targets", "mi-1", "--schedule", "rate(1 day)", "--after-days", "90"})), 1);
  EXPECT_EQ(Run(with({"--targets", "mi-1", "--after-days", "0"})), 1);
  EXPECT_EQ(Run(with({"--targets", "mi-1", "--after-days", "x"})), 1);
  EXPECT_EQ(Run(with({"--targets", "tag:Role", "--after-days", "90"})), 1);
  EXPECT_EQ(Run(with({"--targets", "tag:=web", "--after-days", "90"})), 1);
  EXPECT_EQ(Run(with({"--targets", "mi-1", "--after-days", "90", "--quiet-period", "10"})), 1);
  EXPECT_EQ(Run(with({"--after-days", "90"})), 1);  // document delivery needs targets
  EXPECT_EQ(Run(with({"--targets", "mi-1", "--after-days", "90", "--parameter", "novalue"})), 1);
  EXPECT_TRUE(transport_.requests.empty());

  transport_.Reply(200, {{"RotationPolicy", Policy()}});
  ASSERT_EQ(Run(with({"--targets", "mi-1", "--after-days", "90"})), 0) << err_.str();
  EXPECT_EQ(Body(0)["AutomaticallyAfterDays"], 90);
  EXPECT_FALSE(Body(0).contains("ScheduleExpression"));
}

TEST_F(RotationCommandsTest, ServerErrorsAreShownWithTheirCode) {
  transport_.Reply(400, {{"__type", "ResourceExistsException"}, {"message", "already"}});
  EXPECT_EQ(Run({"rotation", "create", "--user", "u", "--secret", "s", "--document", "D",
                 "--targets", "mi-1", "--after-days", "90"}),
            1);
  EXPECT_EQ(err_.str(), "keyward: error: ResourceExistsException: already\n");
}

TEST_F(RotationCommandsTest, ListFollowsNextToken) {
  transport_.Reply(200, {{"RotationPolicies", {Policy()}}, {"NextToken", "t1"}});
  transport_.Reply(200, {{"RotationPolicies", json::array()}});
  ASSERT_EQ(Run({"rotation", "list"}), 0) << err_.str();
  ASSERT_EQ(transport_.requests.size(), 2u);
  EXPECT_EQ(Header(0, "X-Amz-Target"), "Keyward.ListRotationPolicies");
  EXPECT_EQ(Body(1)["NextToken"], "t1");
  const std::string out = out_.str();
  EXPECT_NE(out.find(kPolicy), std::string::npos);
  EXPECT_NE(out.find("mi-1,mi-2,tag:Role=web"), std::string::npos) << out;
  EXPECT_NE(out.find("rate(30 days)"), std::string::npos);
}

TEST_F(RotationCommandsTest, ShowDeleteRotate) {
  transport_.Reply(200, {{"RotationPolicy", Policy()}});
  ASSERT_EQ(Run({"rotation", "show", kPolicy}), 0) << err_.str();
  EXPECT_EQ(Header(0, "X-Amz-Target"), "Keyward.GetRotationPolicy");
  EXPECT_EQ(Body(0), json({{"PolicyId", kPolicy}}));
  EXPECT_NE(out_.str().find("QuietPeriodSeconds"), std::string::npos);
  EXPECT_NE(out_.str().find("900"), std::string::npos);

  transport_.Reply(200, json::object());
  ASSERT_EQ(Run({"rotation", "delete", kPolicy}), 0) << err_.str();
  EXPECT_EQ(Header(1, "X-Amz-Target"), "Keyward.DeleteRotationPolicy");
  EXPECT_EQ(Body(1), json({{"PolicyId", kPolicy}}));

  transport_.Reply(200, {{"Rotation", Rotation()}});
  ASSERT_EQ(Run({"rotation", "rotate", kPolicy}), 0) << err_.str();
  EXPECT_EQ(Header(2, "X-Amz-Target"), "Keyward.RotateNow");
  EXPECT_NE(out_.str().find(kRotation), std::string::npos);
}

TEST_F(RotationCommandsTest, StatusShowsStepsTimesReasonAndHosts) {
  transport_.Reply(200, {{"Rotation", Rotation()}});
  ASSERT_EQ(Run({"rotation", "status", kRotation}), 0) << err_.str();
  EXPECT_EQ(Header(0, "X-Amz-Target"), "Keyward.GetRotation");
  EXPECT_EQ(Body(0), json({{"RotationId", kRotation}}));
  const std::string out = out_.str();
  EXPECT_NE(out.find("distribute"), std::string::npos);
  EXPECT_NE(out.find("1/2"), std::string::npos) << out;
  EXPECT_NE(out.find("waiting for 1 host: mi-2"), std::string::npos);
  EXPECT_NE(out.find("2026-01-02T03:05:05Z"), std::string::npos);  // entered distribute
  EXPECT_NE(out.find("host mi-1: acked at 2026-01-02T03:06:05Z"), std::string::npos) << out;
  EXPECT_NE(out.find("host mi-2: pending"), std::string::npos);
}

TEST_F(RotationCommandsTest, StatusOfAPolicyListsItsRotations) {
  transport_.Reply(200, {{"Rotations", {Rotation()}}});
  ASSERT_EQ(Run({"rotation", "status", kPolicy, "--output", "json"}), 0) << err_.str();
  EXPECT_EQ(Header(0, "X-Amz-Target"), "Keyward.ListRotations");
  EXPECT_EQ(Body(0), json({{"PolicyId", kPolicy}}));
  const json out = json::parse(out_.str());
  ASSERT_EQ(out["Rotations"].size(), 1u);
  EXPECT_EQ(out["Rotations"][0]["RotationId"], kRotation);
}

TEST_F(RotationCommandsTest, StatusWithoutIdShowsEachPolicysLatestRotation) {
  json active = Policy();
  active["ActiveRotationId"] = kRotation;
  json idle = Policy();
  idle["PolicyId"] = "rp-1111111111111111";  // never rotated: skipped
  transport_.Reply(200, {{"RotationPolicies", {active, idle}}});
  transport_.Reply(200, {{"Rotation", Rotation()}});
  ASSERT_EQ(Run({"rotation", "status"}), 0) << err_.str();
  ASSERT_EQ(transport_.requests.size(), 2u);
  EXPECT_EQ(Header(1, "X-Amz-Target"), "Keyward.GetRotation");
  EXPECT_EQ(Body(1), json({{"RotationId", kRotation}}));
  EXPECT_NE(out_.str().find(kRotation), std::string::npos);
}

TEST_F(RotationCommandsTest, StatusWatchRefreshesUntilTheRotationEnds) {
  transport_.Reply(200, {{"Rotation", Rotation()}});
  json verify = Rotation();
  verify["Step"] = "verify";
  verify["WaitingReason"] = "quiet period: the old key AKIAOLD must stay unused";
  transport_.Reply(200, {{"Rotation", verify}});
  json done = Rotation();
  done["Step"] = "done";
  done.erase("WaitingReason");
  transport_.Reply(200, {{"Rotation", done}});
  ASSERT_EQ(Run({"rotation", "status", kRotation, "--watch"}), 0) << err_.str();
  ASSERT_EQ(transport_.requests.size(), 3u);  // stops once the rotation is done
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(Header(i, "X-Amz-Target"), "Keyward.GetRotation");
  const std::string out = out_.str();
  // Not a terminal: the frames follow each other, without cursor control.
  const std::size_t first = out.find("waiting for 1 host: mi-2");
  const std::size_t second = out.find("quiet period: the old key AKIAOLD");
  const std::size_t last = out.rfind("done");
  ASSERT_NE(first, std::string::npos) << out;
  ASSERT_NE(second, std::string::npos) << out;
  ASSERT_NE(last, std::string::npos) << out;
  EXPECT_LT(first, second);
  EXPECT_LT(second, last);
  EXPECT_EQ(out.find("\x1b["), std::string::npos);
}

TEST_F(RotationCommandsTest, StatusWatchOfAFinishedRotationPrintsOnce) {
  json done = Rotation();
  done["Step"] = "done";
  transport_.Reply(200, {{"Rotation", done}});
  ASSERT_EQ(Run({"rotation", "status", kRotation, "--watch"}), 0) << err_.str();
  EXPECT_EQ(transport_.requests.size(), 1u);
  // One frame: one table header.
  const std::string out = out_.str();
  EXPECT_NE(out.find("RotationId"), std::string::npos) << out;
  EXPECT_EQ(out.find("RotationId"), out.rfind("RotationId")) << out;
}

json Plan() {
  return {{"PolicyId", kPolicy},
          {"UserName", "app"},
          {"SecretId", "app/creds"},
          {"StartDate", kT0},
          {"OldAccessKeyId", "AKIAOLDKEY"},
          {"OldKeyStatus", "Active"},
          {"OldKeyCreateDate", kT0 - 86400},
          {"CurrentVersionId", "v-1"},
          {"Preflight", "a key slot is free"},
          {"Blockers", json::array()},
          {"Hosts",
           {{{"InstanceId", "mi-1"},
             {"Registered", true},
             {"PingStatus", "Online"},
             {"IPAddress", "10.0.0.1"},
             {"SeenWithCurrentKey", true},
             {"AckedDate", kT0 - 3600}},
            {{"InstanceId", "mi-2"}, {"Registered", false}, {"SeenWithCurrentKey", false}}}},
          {"HostsNote", "seen = acknowledged the current version v-1"},
          {"Steps",
           {{{"Step", "create"}, {"EarliestDate", kT0}, {"LatestDate", kT0}, {"Note", "new"}},
            {{"Step", "deactivate"},
             {"EarliestDate", kT0 + 900},
             {"LatestDate", kT0 + 4500},
             {"Note", "old key Inactive"}}}},
          {"NextRotationDate", kT0 + 30 * 86400}};
}

TEST_F(RotationCommandsTest, PlanShowsTheKeyHostsAndStepDates) {
  transport_.Reply(200, {{"Plan", Plan()}});
  ASSERT_EQ(Run({"rotation", "plan", kPolicy}), 0) << err_.str();
  ASSERT_EQ(transport_.requests.size(), 1u);
  EXPECT_EQ(Header(0, "X-Amz-Target"), "Keyward.PlanRotation");
  EXPECT_EQ(Body(0), json({{"PolicyId", kPolicy}}));
  const std::string out = out_.str();
  EXPECT_NE(out.find("AKIAOLDKEY"), std::string::npos) << out;
  EXPECT_NE(out.find("Online 10.0.0.1; seen: acknowledged the current version at "
                     "2026-01-02T02:04:05Z"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("not registered; NOT SEEN with the current key"), std::string::npos);
  EXPECT_NE(out.find("1 not seen"), std::string::npos);
  EXPECT_NE(out.find("2026-01-02T03:19:05Z .. 2026-01-02T04:19:05Z"), std::string::npos);
  EXPECT_NE(out.find("Nothing was changed"), std::string::npos);

  transport_.Reply(200, {{"Plan", Plan()}});
  ASSERT_EQ(Run({"rotation", "plan", kPolicy, "--output", "json"}), 0) << err_.str();
  EXPECT_EQ(Header(1, "X-Amz-Target"), "Keyward.PlanRotation");
  EXPECT_EQ(json::parse(out_.str())["Plan"]["OldAccessKeyId"], "AKIAOLDKEY");
}

TEST_F(RotationCommandsTest, RotateStartsARotationOrWithPlanOnlyShowsIt) {
  transport_.Reply(200, {{"Plan", Plan()}});
  ASSERT_EQ(Run({"rotate", "--plan", kPolicy}), 0) << err_.str();
  EXPECT_EQ(Header(0, "X-Amz-Target"), "Keyward.PlanRotation");
  EXPECT_NE(out_.str().find("Nothing was changed"), std::string::npos) << out_.str();

  transport_.Reply(200, {{"Rotation", {{"RotationId", "rp-1.00000001"}}}});
  ASSERT_EQ(Run({"rotate", kPolicy}), 0) << err_.str();
  EXPECT_EQ(Header(1, "X-Amz-Target"), "Keyward.RotateNow");
  EXPECT_EQ(Body(1), json({{"PolicyId", kPolicy}}));
}

TEST_F(RotationCommandsTest, PlanShowsBlockers) {
  json blocked = Plan();
  blocked["Blockers"] = {"rotation rp-0123456789abcdef.00000001 is in progress"};
  transport_.Reply(200, {{"Plan", blocked}});
  ASSERT_EQ(Run({"rotation", "plan", kPolicy}), 0) << err_.str();
  EXPECT_NE(out_.str().find("BLOCKED"), std::string::npos);
  EXPECT_NE(out_.str().find("is in progress"), std::string::npos);
}

}  // namespace
}  // namespace kw::cli
