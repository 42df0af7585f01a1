#include "cli/app.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cli/command.hpp"
#include "common/time_format.hpp"
#include "crypto/digest.hpp"
#include "sigv4/sigv4.hpp"

namespace kw::cli {
namespace {

// Answers scripted responses in order and records what was sent.
class FakeTransport final : public HttpTransport {
 public:
  Result<ClientResponse> Send(const ClientRequest& request) override {
    requests.push_back(request);
    if (responses.empty()) return Unavailable(request.url + ": Connection refused");
    auto r = std::move(responses.front());
    responses.pop_front();
    return r;
  }
  void Reply(int status, std::string body) {
    responses.push_back(ClientResponse{status, {}, std::move(body)});
  }
  void Fail() { responses.push_back(Unavailable("http://h/: Connection refused")); }

  std::deque<Result<ClientResponse>> responses;
  std::vector<ClientRequest> requests;
};

std::string Wrap(const std::string& action, const std::string& result) {
  return "<" + action + "Response xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><" + action +
         "Result>" + result + "</" + action + "Result><ResponseMetadata><RequestId>r" +
         "</RequestId></ResponseMetadata></" + action + "Response>";
}

const std::string kIdentity =
    Wrap("GetCallerIdentity",
         "<Arn>arn:aws:iam::123456789012:user/admin</Arn><UserId>AIDAADMIN</UserId>"
         "<Account>123456789012</Account>");

class AppTest : public ::testing::Test {
 protected:
  AppTest() : clock_(*ParseIso8601("2026-01-02T03:04:05Z")) {
    vars_["AWS_ACCESS_KEY_ID"] = "AKIATESTKEY";
    vars_["AWS_SECRET_ACCESS_KEY"] = "testsecretkeyvalue";
    vars_["HOME"] = "/nonexistent-home";
  }

  int Run(std::vector<const char*> args) {
    args.insert(args.begin(), "keyward");
    out_.str("");
    err_.str("");
    AppEnvironment env;
    env.env = MapEnvironment(vars_);
    env.transport = &transport_;
    env.clock = &clock_;
    env.out = &out_;
    env.err = &err_;
    env.sleep = [this](std::chrono::milliseconds) { ++sleeps_; };
    return RunApp(static_cast<int>(args.size()), args.data(), env);
  }

  std::string Body(std::size_t i) const { return transport_.requests.at(i).body; }

  FakeTransport transport_;
  FakeClock clock_;
  std::map<std::string, std::string, std::less<>> vars_;
  std::ostringstream out_, err_;
  int sleeps_ = 0;
};

TEST_F(AppTest, WhoamiSignsAValidRequestToTheDefaultEndpoint) {
  transport_.Reply(200, kIdentity);
  ASSERT_EQ(Run({"whoami", "--output", "json"}), 0) << err_.str();
  EXPECT_EQ(out_.str(),
            "{\n    \"UserId\": \"AIDAADMIN\",\n    \"Account\": \"123456789012\",\n"
            "    \"Arn\": \"arn:aws:iam::123456789012:user/admin\"\n}\n");
  ASSERT_EQ(transport_.requests.size(), 1u);
  const ClientRequest& req = transport_.requests[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.url, "http://127.0.0.1:8787");
  EXPECT_EQ(req.body, "Action=GetCallerIdentity&Version=2011-06-15");

  // The server's verifier must accept what the client signed.
  const sigv4::RequestView view{req.method, "/", req.headers, req.body};
  auto auth = sigv4::ParseAuth(view);
  ASSERT_TRUE(auth.has_value()) << auth.error().message;
  EXPECT_EQ(auth->access_key_id, "AKIATESTKEY");
  EXPECT_EQ(auth->scope, "20260102/us-east-1/sts/aws4_request");
  sigv4::Verifier verifier;
  EXPECT_TRUE(
      verifier.Verify(view, *auth, SecretBytes("testsecretkeyvalue"), clock_.Now()).has_value());
  EXPECT_FALSE(verifier.Verify(view, *auth, SecretBytes("wrong"), clock_.Now()).has_value());
  const HeaderField* host = FindHeader(req.headers, "Host");
  ASSERT_NE(host, nullptr);
  EXPECT_EQ(host->value, "127.0.0.1:8787");
}

TEST_F(AppTest, EndpointFromEnvironmentAndFlagAndRegionFlag) {
  vars_["KEYWARD_ENDPOINT"] = "http://kw.internal:9000";
  transport_.Reply(200, kIdentity);
  ASSERT_EQ(Run({"whoami"}), 0) << err_.str();
  EXPECT_EQ(transport_.requests[0].url, "http://kw.internal:9000");

  transport_.Reply(200, kIdentity);
  // Global options are accepted after the command words too.
  ASSERT_EQ(Run({"whoami", "--endpoint", "https://other:8443", "--region", "eu-west-1"}), 0);
  EXPECT_EQ(transport_.requests[1].url, "https://other:8443");
  const HeaderField* auth = FindHeader(transport_.requests[1].headers, "Authorization");
  ASSERT_NE(auth, nullptr);
  EXPECT_NE(auth->value.find("/eu-west-1/sts/aws4_request"), std::string::npos);
}

TEST_F(AppTest, SessionTokenIsSent) {
  vars_["AWS_SESSION_TOKEN"] = "SESSIONTOKEN";
  transport_.Reply(200, kIdentity);
  ASSERT_EQ(Run({"whoami"}), 0);
  const HeaderField* token = FindHeader(transport_.requests[0].headers, "X-Amz-Security-Token");
  ASSERT_NE(token, nullptr);
  EXPECT_EQ(token->value, "SESSIONTOKEN");
}

TEST_F(AppTest, UserListFollowsMarkersAndPrintsTable) {
  transport_.Reply(200,
                   Wrap("ListUsers",
                        "<Users><member><Path>/</Path><UserName>alice</UserName><UserId>AIDA1"
                        "</UserId><Arn>arn:aws:iam::1:user/alice</Arn><CreateDate>2026-01-01T"
                        "00:00:00Z</CreateDate></member></Users><IsTruncated>true</IsTruncated>"
                        "<Marker>m1</Marker>"));
  transport_.Reply(200,
                   Wrap("ListUsers",
                        "<Users><member><Path>/ops/</Path><UserName>bob</UserName><UserId>AIDA2"
                        "</UserId><Arn>arn:aws:iam::1:user/ops/bob</Arn><CreateDate>2026-01-02"
                        "T00:00:00Z</CreateDate></member></Users><IsTruncated>false"
                        "</IsTruncated>"));
  ASSERT_EQ(Run({"user", "list"}), 0) << err_.str();
  ASSERT_EQ(transport_.requests.size(), 2u);
  EXPECT_EQ(Body(0), "Action=ListUsers&Version=2010-05-08");
  EXPECT_EQ(Body(1), "Action=ListUsers&Version=2010-05-08&Marker=m1");
  EXPECT_EQ(out_.str(),
            "UserName  UserId  Arn                          Path   CreateDate\n"
            "alice     AIDA1   arn:aws:iam::1:user/alice    /      2026-01-01T00:00:00Z\n"
            "bob       AIDA2   arn:aws:iam::1:user/ops/bob  /ops/  2026-01-02T00:00:00Z\n");
}

TEST_F(AppTest, UserListJsonIsTheAwsCliShape) {
  transport_.Reply(200, Wrap("ListUsers",
                             "<Users><member><UserName>alice</UserName><Path>/</Path></member>"
                             "</Users><IsTruncated>false</IsTruncated>"));
  ASSERT_EQ(Run({"--output", "json", "user", "list"}), 0);
  auto j = nlohmann::json::parse(out_.str());
  ASSERT_EQ(j["Users"].size(), 1u);
  EXPECT_EQ(j["Users"][0]["UserName"], "alice");
  EXPECT_EQ(j["Users"][0]["Path"], "/");
  EXPECT_FALSE(j["Users"][0].contains("Arn"));
}

TEST_F(AppTest, RepeatedMarkerStopsInsteadOfLooping) {
  const std::string page =
      Wrap("ListUsers", "<Users/><IsTruncated>true</IsTruncated><Marker>m</Marker>");
  transport_.Reply(200, page);
  transport_.Reply(200, page);
  EXPECT_EQ(Run({"user", "list"}), 1);
  EXPECT_NE(err_.str().find("repeated a pagination marker"), std::string::npos);
}

TEST_F(AppTest, UserCreateAndDelete) {
  transport_.Reply(200, Wrap("CreateUser",
                             "<User><Path>/ops/</Path><UserName>carol</UserName><UserId>AIDA3"
                             "</UserId><Arn>arn:aws:iam::1:user/ops/carol</Arn><CreateDate>2026-01"
                             "-02T03:04:05Z</CreateDate></User>"));
  ASSERT_EQ(Run({"user", "create", "carol", "--path", "/ops/"}), 0) << err_.str();
  EXPECT_EQ(Body(0), "Action=CreateUser&Version=2010-05-08&UserName=carol&Path=%2Fops%2F");
  EXPECT_NE(out_.str().find("carol"), std::string::npos);

  transport_.Reply(200,
                   "<DeleteUserResponse><ResponseMetadata><RequestId>r</RequestId>"
                   "</ResponseMetadata></DeleteUserResponse>");
  ASSERT_EQ(Run({"user", "delete", "carol"}), 0) << err_.str();
  EXPECT_EQ(Body(1), "Action=DeleteUser&Version=2010-05-08&UserName=carol");
  EXPECT_EQ(out_.str(), "Deleted user 'carol'.\n");

  transport_.Reply(200, "<DeleteUserResponse/>");
  ASSERT_EQ(Run({"user", "delete", "carol", "--output", "json"}), 0);
  EXPECT_EQ(out_.str(), "");  // as the AWS CLI: nothing for an operation without output
}

TEST_F(AppTest, AccessKeyCreatePrintsSecretOnceWithWarning) {
  const std::string created = Wrap(
      "CreateAccessKey",
      "<AccessKey><UserName>bob</UserName><AccessKeyId>AKIANEW</AccessKeyId><Status>Active"
      "</Status><SecretAccessKey>newsecret/abc</SecretAccessKey><CreateDate>2026-01-02T03:04:05Z"
      "</CreateDate></AccessKey>");
  transport_.Reply(200, created);
  ASSERT_EQ(Run({"access-key", "create", "--user", "bob"}), 0) << err_.str();
  EXPECT_EQ(Body(0), "Action=CreateAccessKey&Version=2010-05-08&UserName=bob");
  EXPECT_NE(out_.str().find("AKIANEW"), std::string::npos);
  EXPECT_NE(out_.str().find("newsecret/abc"), std::string::npos);
  EXPECT_NE(out_.str().find("only time the secret access key is shown"), std::string::npos);

  transport_.Reply(200, created);
  ASSERT_EQ(Run({"access-key", "create", "--output", "json"}), 0);
  EXPECT_EQ(Body(1), "Action=CreateAccessKey&Version=2010-05-08");  // the caller's own
  auto j = nlohmann::json::parse(out_.str());
  EXPECT_EQ(j["AccessKey"]["SecretAccessKey"], "newsecret/abc");
  EXPECT_EQ(j["AccessKey"]["AccessKeyId"], "AKIANEW");
  EXPECT_EQ(out_.str().find("WARNING"), std::string::npos);
}

TEST_F(AppTest, AccessKeyStatusAndDelete) {
  transport_.Reply(200, "<UpdateAccessKeyResponse/>");
  ASSERT_EQ(Run({"access-key", "deactivate", "AKIAOLD", "--user", "bob"}), 0) << err_.str();
  EXPECT_EQ(Body(0),
            "Action=UpdateAccessKey&Version=2010-05-08&UserName=bob&AccessKeyId=AKIAOLD&"
            "Status=Inactive");
  EXPECT_EQ(out_.str(), "Access key AKIAOLD of user 'bob' is now Inactive.\n");

  transport_.Reply(200, "<UpdateAccessKeyResponse/>");
  ASSERT_EQ(Run({"access-key", "activate", "AKIAOLD"}), 0);
  EXPECT_EQ(Body(1), "Action=UpdateAccessKey&Version=2010-05-08&AccessKeyId=AKIAOLD&Status=Active");

  transport_.Reply(200, "<DeleteAccessKeyResponse/>");
  ASSERT_EQ(Run({"access-key", "delete", "AKIAOLD", "--user", "bob"}), 0);
  EXPECT_EQ(Body(2), "Action=DeleteAccessKey&Version=2010-05-08&UserName=bob&AccessKeyId=AKIAOLD");
}

TEST_F(AppTest, AccessKeyList) {
  transport_.Reply(200, Wrap("ListAccessKeys",
                             "<UserName>bob</UserName><AccessKeyMetadata><member><UserName>bob"
                             "</UserName><AccessKeyId>AKIA1</AccessKeyId><Status>Active</Status>"
                             "<CreateDate>2026-01-01T00:00:00Z</CreateDate></member>"
                             "</AccessKeyMetadata><IsTruncated>false</IsTruncated>"));
  ASSERT_EQ(Run({"access-key", "list", "--user", "bob", "--output", "csv"}), 0) << err_.str();
  EXPECT_EQ(Body(0), "Action=ListAccessKeys&Version=2010-05-08&UserName=bob");
  EXPECT_EQ(out_.str(),
            "UserName,AccessKeyId,Status,CreateDate\nbob,AKIA1,Active,2026-01-01T00:00:00Z\n");
}

TEST_F(AppTest, ServerErrorIsOneLineOnStderr) {
  transport_.Reply(403,
                   "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>"
                   "User: arn:aws:iam::1:user/bob is not authorized to perform: iam:ListUsers\n"
                   "</Message></Error><RequestId>r</RequestId></ErrorResponse>");
  EXPECT_EQ(Run({"user", "list"}), 1);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(err_.str(),
            "keyward: error: AccessDenied: User: arn:aws:iam::1:user/bob is not authorized to "
            "perform: iam:ListUsers\n");
}

TEST_F(AppTest, NoCredentialsErrorNamesProvidersWithoutCallingTheServer) {
  vars_.erase("AWS_ACCESS_KEY_ID");
  vars_.erase("AWS_SECRET_ACCESS_KEY");
  EXPECT_EQ(Run({"whoami"}), 1);
  EXPECT_TRUE(transport_.requests.empty());
  EXPECT_NE(err_.str().find("keyward: error: no credentials: tried environment"), std::string::npos)
      << err_.str();
  EXPECT_NE(err_.str().find("/nonexistent-home/.aws/credentials (file not found)"),
            std::string::npos)
      << err_.str();
}

TEST_F(AppTest, UnreachableServer) {
  transport_.Fail();
  EXPECT_EQ(Run({"whoami"}), 1);
  EXPECT_NE(err_.str().find("Connection refused"), std::string::npos);
}

TEST_F(AppTest, StatusReadyWithIdentity) {
  transport_.Reply(200, "ok\n");
  transport_.Reply(200, kIdentity);
  ASSERT_EQ(Run({"status", "--endpoint", "http://h:1/"}), 0) << err_.str();
  EXPECT_EQ(transport_.requests[0].method, "GET");
  EXPECT_EQ(transport_.requests[0].url, "http://h:1/health");
  EXPECT_EQ(out_.str(),
            "Endpoint     Ready  Account       CallerArn\n"
            "http://h:1/  true   123456789012  arn:aws:iam::123456789012:user/admin\n");
}

TEST_F(AppTest, StatusNotReadyShowsTableAndFails) {
  transport_.Reply(503, "starting\n");
  EXPECT_EQ(Run({"status", "--output", "json"}), 1);
  auto j = nlohmann::json::parse(out_.str());
  EXPECT_EQ(j["Ready"], false);
  EXPECT_TRUE(j["Account"].is_null());
  EXPECT_NE(err_.str().find("is not ready (HTTP 503)"), std::string::npos);
  EXPECT_EQ(transport_.requests.size(), 1u);  // no identity call against a starting server
}

TEST_F(AppTest, StatusWithoutCredentialsStillReportsReadiness) {
  vars_.erase("AWS_ACCESS_KEY_ID");
  vars_.erase("AWS_SECRET_ACCESS_KEY");
  transport_.Reply(200, "ok\n");
  EXPECT_EQ(Run({"status"}), 1);
  EXPECT_NE(out_.str().find("true"), std::string::npos);
  EXPECT_NE(err_.str().find("no credentials"), std::string::npos);
}

TEST_F(AppTest, CredentialReportPollsThenDecodes) {
  const std::string csv =
      "user,arn,access_key_1_active\n<root_account>,arn:aws:iam::1:root,false\n"
      "alice,arn:aws:iam::1:user/alice,true\n";
  transport_.Reply(200, Wrap("GenerateCredentialReport", "<State>STARTED</State>"));
  transport_.Reply(200, Wrap("GenerateCredentialReport", "<State>COMPLETE</State>"));
  transport_.Reply(
      200, Wrap("GetCredentialReport", "<Content>" + crypto::Base64Encode(csv) +
                                           "</Content><ReportFormat>text/csv</ReportFormat>"));
  ASSERT_EQ(Run({"credential-report"}), 0) << err_.str();
  EXPECT_EQ(sleeps_, 1);
  EXPECT_EQ(Body(2), "Action=GetCredentialReport&Version=2010-05-08");
  EXPECT_EQ(out_.str(),
            "user            arn                        access_key_1_active\n"
            "<root_account>  arn:aws:iam::1:root        false\n"
            "alice           arn:aws:iam::1:user/alice  true\n");

  transport_.Reply(200, Wrap("GenerateCredentialReport", "<State>COMPLETE</State>"));
  transport_.Reply(
      200, Wrap("GetCredentialReport", "<Content>" + crypto::Base64Encode(csv) + "</Content>"));
  ASSERT_EQ(Run({"credential-report", "--output", "csv"}), 0);
  EXPECT_EQ(out_.str(), csv);

  transport_.Reply(200, Wrap("GenerateCredentialReport", "<State>COMPLETE</State>"));
  transport_.Reply(
      200, Wrap("GetCredentialReport", "<Content>" + crypto::Base64Encode(csv) + "</Content>"));
  ASSERT_EQ(Run({"credential-report", "--output", "json"}), 0);
  auto j = nlohmann::json::parse(out_.str());
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[1]["user"], "alice");
  EXPECT_EQ(j[1]["access_key_1_active"], "true");
}

TEST_F(AppTest, CredentialReportBadBase64) {
  transport_.Reply(200, Wrap("GenerateCredentialReport", "<State>COMPLETE</State>"));
  transport_.Reply(200, Wrap("GetCredentialReport", "<Content>!!!</Content>"));
  EXPECT_EQ(Run({"credential-report"}), 1);
  EXPECT_NE(err_.str().find("not base64"), std::string::npos);
}

TEST_F(AppTest, HelpOnEveryCommand) {
  for (std::vector<const char*> args : {std::vector<const char*>{"--help"},
                                        {"user", "--help"},
                                        {"user", "create", "--help"},
                                        {"access-key", "delete", "--help"},
                                        {"credential-report", "--help"},
                                        {"status", "--help"}}) {
    EXPECT_EQ(Run(args), 0) << args.front();
    EXPECT_NE(out_.str().find("Usage"), std::string::npos) << out_.str();
  }
  Run({"access-key", "deactivate", "--help"});
  EXPECT_NE(out_.str().find("--user"), std::string::npos);
  EXPECT_NE(out_.str().find("ID"), std::string::npos);
  EXPECT_TRUE(transport_.requests.empty());
}

TEST_F(AppTest, EveryTableCommandHasHelpAndDistinctPath) {
  std::set<std::vector<std::string>> paths;
  std::set<std::string> groups;
  for (const auto& g : CommandGroups()) groups.insert(g.name);
  for (const auto& def : AllClientCommands()) {
    EXPECT_TRUE(paths.insert(def.path).second) << def.path.back();
    EXPECT_FALSE(def.help.empty()) << def.path.back();
    for (std::size_t i = 0; i + 1 < def.path.size(); ++i) {
      EXPECT_TRUE(groups.count(def.path[i])) << "group without help: " << def.path[i];
    }
    std::vector<const char*> args;
    for (const auto& w : def.path) args.push_back(w.c_str());
    args.push_back("--help");
    EXPECT_EQ(Run(args), 0) << def.path.back();
    EXPECT_NE(out_.str().find(def.help), std::string::npos) << out_.str();
    for (const auto& a : def.args) EXPECT_NE(out_.str().find(a.name), std::string::npos);
  }
  EXPECT_TRUE(transport_.requests.empty());
}

TEST_F(AppTest, VersionAndUsageErrors) {
  EXPECT_EQ(Run({"--version"}), 0);
  EXPECT_EQ(out_.str(), "keyward 0.1.0\n");
  EXPECT_NE(Run({}), 0);                              // a command is required
  EXPECT_NE(Run({"user"}), 0);                        // a subcommand is required
  EXPECT_NE(Run({"user", "create"}), 0);              // NAME is required
  EXPECT_NE(Run({"whoami", "--output", "yaml"}), 0);  // not a format
  EXPECT_NE(Run({"frobnicate"}), 0);
  EXPECT_TRUE(transport_.requests.empty());
}

TEST_F(AppTest, ExtraCommandRuns) {
  int ran = 0;
  std::string flag;
  std::vector<ExtraCommand> extra = {{"server", "Run the server",
                                      [&](CLI::App& sub) { sub.add_option("--listen", flag); },
                                      [&] {
                                        ++ran;
                                        return 7;
                                      }}};
  const char* argv[] = {"keyward", "server", "--listen", ":9"};
  AppEnvironment env;
  env.env = MapEnvironment({});
  env.transport = &transport_;
  env.clock = &clock_;
  env.out = &out_;
  env.err = &err_;
  EXPECT_EQ(RunApp(4, argv, env, extra), 7);
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(flag, ":9");
}

}  // namespace
}  // namespace kw::cli
