#pragma once

// Test support for the CLI's command groups: RunApp against a scripted HTTP transport
// (each request recorded, each answer queued by the test), a fixed clock and static
// credentials from the environment. Header-only; include it from *_test.cpp only.

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/app.hpp"
#include "cli/command.hpp"
#include "common/time_format.hpp"
#include "sigv4/sigv4.hpp"

namespace kw::cli::test_support {

using nlohmann::json;

class ScriptedTransport final : public HttpTransport {
 public:
  Result<ClientResponse> Send(const ClientRequest& request) override {
    requests.push_back(request);
    if (responses.empty()) return Unavailable(request.url + ": Connection refused");
    auto r = std::move(responses.front());
    responses.pop_front();
    return r;
  }
  void Reply(int status, const json& body) {
    responses.push_back(ClientResponse{status, {}, body.dump()});
  }
  std::deque<Result<ClientResponse>> responses;
  std::vector<ClientRequest> requests;
};

class ScriptedAppTest : public ::testing::Test {
 protected:
  ScriptedAppTest() : clock_(*ParseIso8601("2026-01-02T03:04:05Z")) {
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
    env.sleep = [](std::chrono::milliseconds) {};
    return RunApp(static_cast<int>(args.size()), args.data(), env);
  }

  std::string Header(std::size_t i, std::string_view name) {
    const HeaderField* h = FindHeader(transport_.requests.at(i).headers, name);
    return h == nullptr ? "" : h->value;
  }
  json Body(std::size_t i) { return json::parse(transport_.requests.at(i).body); }
  std::string Scope(std::size_t i) {
    const ClientRequest& req = transport_.requests.at(i);
    auto auth = sigv4::ParseAuth({req.method, "/", req.headers, req.body});
    return auth ? auth->scope : "";
  }

  ScriptedTransport transport_;
  FakeClock clock_;
  std::map<std::string, std::string, std::less<>> vars_;
  std::ostringstream out_, err_;
};

}  // namespace kw::cli::test_support
