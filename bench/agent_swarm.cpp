// agent_swarm: simulates many keyward agents over real WebSocket control channels, to
// measure what one server holds (docs/benchmarks.md, issue 4's goals: 10,000 connected
// agents at <= 20 KiB of server memory each; a command fanned out to all of them with
// every result recorded within 10 seconds).
//
// Each simulated agent opens GET /v1/control-channel/{id}, SigV4-signed with its
// instance credentials (from --credentials-file, written by agent_swarm_setup.py), says
// hello, heartbeats, and answers every command with an ack and a Success result. One
// thread, one io_context, one coroutine per agent: the client is as cheap as possible so
// that the server is what gets measured.
//
// Output: one JSON object per phase on stdout (connect, then one per command seen),
// with the server's VmRSS when --server-pid is given. Plain http only.

// clang-format off
#include "common/net.hpp"
// clang-format on

#include <sys/resource.h>

#include <algorithm>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "agentproto/agent_protocol.hpp"
#include "sigv4/sigv4.hpp"

namespace {

using namespace kw::net;  // NOLINT
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using SteadyClock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  std::string port = "8787";
  std::string credentials_file;
  std::string region = "us-east-1";
  std::size_t connections = 0;  // 0: every entry of the file
  std::size_t connect_concurrency = 200;
  int duration_seconds = 60;
  int heartbeat_seconds = 30;
  int expect_commands = 0;  // exit once this many commands were answered by every agent
  int server_pid = 0;
};

struct AgentCredentials {
  std::string instance_id, access_key_id, secret, token;
};

struct CommandStats {
  SteadyClock::time_point first_received;
  SteadyClock::time_point last_result;
  std::size_t results = 0;
};

struct Swarm {
  Options opt;
  std::vector<AgentCredentials> agents;
  SteadyClock::time_point start;
  std::size_t next_to_connect = 0;
  std::size_t connected = 0;
  std::size_t failed = 0;
  std::size_t closed = 0;
  std::vector<double> connect_ms;
  std::map<std::string, CommandStats> commands;
  int commands_done = 0;
  bool stopping = false;
};

double Ms(SteadyClock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

long ServerRssKiB(int pid) {
  if (pid <= 0) return -1;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

// One simulated agent. Single-threaded: every coroutine runs on the one io_context.
class Agent : public std::enable_shared_from_this<Agent> {
 public:
  Agent(Swarm& swarm, const AgentCredentials& creds, asio::io_context& io)
      : swarm_(swarm), creds_(creds), ws_(io), heartbeat_(io) {}

  asio::awaitable<bool> Connect(const tcp::resolver::results_type& endpoints) {
    const auto begin = SteadyClock::now();
    error_code ec;
    beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(30));
    co_await beast::get_lowest_layer(ws_).async_connect(
        endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Fail("connect", ec);
    const std::string host = swarm_.opt.host + ":" + swarm_.opt.port;
    const std::string target = "/v1/control-channel/" + creds_.instance_id;
    kw::HeaderList headers = {{"Host", host}};
    const kw::sigv4::RequestView view{"GET", target, headers, ""};
    const kw::sigv4::Credentials c{creds_.access_key_id, kw::SecretBytes(creds_.secret),
                                   creds_.token};
    const kw::HeaderList signed_headers =
        kw::sigv4::Sign(view, c, {swarm_.opt.region, "ssm", std::chrono::system_clock::now()});
    ws_.set_option(websocket::stream_base::decorator([signed_headers](websocket::request_type& r) {
      for (const auto& h : signed_headers) r.set(h.name, h.value);
    }));
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
    websocket::response_type response;
    co_await ws_.async_handshake(response, host, target,
                                 asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (swarm_.failed < 5) {
        std::cerr << "handshake " << creds_.instance_id << ": HTTP " << response.result_int() << " "
                  << response.body() << "\n";
      }
      co_return Fail("handshake", ec);
    }
    kw::agentproto::HelloMessage hello;
    hello.agent_version = "agent-swarm";
    hello.computer_name = "swarm-" + creds_.instance_id;
    hello.ip_address = "127.0.0.1";
    Send(kw::agentproto::Encode(hello));
    swarm_.connect_ms.push_back(Ms(SteadyClock::now() - begin));
    ++swarm_.connected;
    co_return true;
  }

  static asio::awaitable<void> Run(std::shared_ptr<Agent> self) {
    asio::co_spawn(self->ws_.get_executor(), Heartbeats(self), asio::detached);
    beast::flat_buffer buffer;
    error_code ec;
    while (!self->swarm_.stopping) {
      co_await self->ws_.async_read(buffer, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      const std::string text = beast::buffers_to_string(buffer.data());
      buffer.consume(buffer.size());
      self->OnMessage(text);
    }
    self->heartbeat_.cancel();
    ++self->swarm_.closed;
  }

  void Close() {
    heartbeat_.cancel();
    error_code ec;
    beast::get_lowest_layer(ws_).socket().close(ec);
  }

 private:
  bool Fail(const char* what, const error_code& ec) {
    if (swarm_.failed++ < 5) std::cerr << what << " failed: " << ec.message() << "\n";
    return false;
  }

  void OnMessage(const std::string& text) {
    auto m = kw::agentproto::DecodeControlMessage(text);
    if (!m || m->type != kw::agentproto::ControlMessage::Type::kCommand) return;
    const std::string& id = m->command.command_id;
    auto [it, fresh] = swarm_.commands.try_emplace(id);
    if (fresh) it->second.first_received = SteadyClock::now();
    Send(kw::agentproto::Encode(kw::agentproto::AckMessage{id}));
    kw::agentproto::ResultMessage result;
    result.command_id = id;
    result.status = "Success";
    result.response_code = 0;
    for (const auto& step : m->command.steps) {
      kw::agentproto::StepResult s;
      s.name = step.name;
      s.status = "Success";
      s.response_code = 0;
      result.steps.push_back(std::move(s));
    }
    Send(kw::agentproto::Encode(result));
    it->second.last_result = SteadyClock::now();
    if (++it->second.results == swarm_.connected) Report(id, it->second);
  }

  void Report(const std::string& id, const CommandStats& s) {
    nlohmann::json j = {{"phase", "command"},
                        {"command_id", id},
                        {"results_sent", s.results},
                        {"first_to_last_result_ms", Ms(s.last_result - s.first_received)},
                        {"server_rss_kib", ServerRssKiB(swarm_.opt.server_pid)}};
    std::cout << j.dump() << std::endl;
    if (swarm_.opt.expect_commands > 0 && ++swarm_.commands_done >= swarm_.opt.expect_commands) {
      swarm_.stopping = true;
    }
  }

  // Frames go out one at a time (Beast allows one write in flight).
  void Send(std::string text) {
    out_.push_back(std::move(text));
    if (!writing_) {
      writing_ = true;
      asio::co_spawn(ws_.get_executor(), Writer(shared_from_this()), asio::detached);
    }
  }

  static asio::awaitable<void> Writer(std::shared_ptr<Agent> self) {
    error_code ec;
    while (!self->out_.empty()) {
      co_await self->ws_.async_write(asio::buffer(self->out_.front()),
                                     asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        self->out_.clear();
        break;
      }
      self->out_.pop_front();
    }
    self->writing_ = false;
  }

  static asio::awaitable<void> Heartbeats(std::shared_ptr<Agent> self) {
    error_code ec;
    for (;;) {
      self->heartbeat_.expires_after(std::chrono::seconds(self->swarm_.opt.heartbeat_seconds));
      co_await self->heartbeat_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (ec || self->swarm_.stopping) co_return;
      self->Send(kw::agentproto::Encode(kw::agentproto::HeartbeatMessage{}));
    }
  }

  Swarm& swarm_;
  const AgentCredentials& creds_;
  websocket::stream<beast::tcp_stream> ws_;
  asio::steady_timer heartbeat_;
  std::deque<std::string> out_;
  bool writing_ = false;
};

// Connects agents one after another; `connect_concurrency` of these run at once.
asio::awaitable<void> Connector(Swarm& swarm, asio::io_context& io,
                                tcp::resolver::results_type endpoints,
                                std::vector<std::shared_ptr<Agent>>& all) {
  while (swarm.next_to_connect < swarm.agents.size() && !swarm.stopping) {
    auto agent = std::make_shared<Agent>(swarm, swarm.agents[swarm.next_to_connect++], io);
    all.push_back(agent);
    if (co_await agent->Connect(endpoints)) {
      asio::co_spawn(io, Agent::Run(agent), asio::detached);
    }
    if (swarm.connected + swarm.failed == swarm.agents.size()) {
      nlohmann::json j = {{"phase", "connect"},
                          {"connected", swarm.connected},
                          {"failed", swarm.failed},
                          {"total_s", Ms(SteadyClock::now() - swarm.start) / 1000},
                          {"handshake_p50_ms", Percentile(swarm.connect_ms, 0.5)},
                          {"handshake_p99_ms", Percentile(swarm.connect_ms, 0.99)},
                          {"server_rss_kib", ServerRssKiB(swarm.opt.server_pid)}};
      std::cout << j.dump() << std::endl;
    }
  }
}

int Usage() {
  std::cerr << "usage: agent_swarm --credentials-file FILE [--endpoint http://HOST:PORT]\n"
               "  [--connections N] [--connect-concurrency N] [--duration SECONDS]\n"
               "  [--heartbeat SECONDS] [--expect-commands N] [--server-pid PID]"
               " [--region REGION]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Swarm swarm;
  Options& opt = swarm.opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return Usage();
    const std::string v = argv[++i];
    if (a == "--endpoint") {
      const std::string prefix = "http://";
      if (v.rfind(prefix, 0) != 0) return Usage();
      const std::string hp = v.substr(prefix.size());
      const auto colon = hp.rfind(':');
      opt.host = hp.substr(0, colon);
      opt.port = colon == std::string::npos ? "80" : hp.substr(colon + 1);
      while (!opt.port.empty() && opt.port.back() == '/') opt.port.pop_back();
    } else if (a == "--credentials-file") {
      opt.credentials_file = v;
    } else if (a == "--region") {
      opt.region = v;
    } else if (a == "--connections") {
      opt.connections = std::stoul(v);
    } else if (a == "--connect-concurrency") {
      opt.connect_concurrency = std::max<std::size_t>(1, std::stoul(v));
    } else if (a == "--duration") {
      opt.duration_seconds = std::stoi(v);
    } else if (a == "--heartbeat") {
      opt.heartbeat_seconds = std::max(1, std::stoi(v));
    } else if (a == "--expect-commands") {
      opt.expect_commands = std::stoi(v);
    } else if (a == "--server-pid") {
      opt.server_pid = std::stoi(v);
    } else {
      return Usage();
    }
  }
  if (opt.credentials_file.empty()) return Usage();

  try {
    std::ifstream in(opt.credentials_file);
    const auto list = nlohmann::json::parse(in);
    for (const auto& e : list) {
      swarm.agents.push_back(
          {e.at("instance_id"), e.at("access_key_id"), e.at("secret"), e.at("token")});
    }
  } catch (const std::exception& e) {
    std::cerr << "cannot read " << opt.credentials_file << ": " << e.what() << "\n";
    return 1;
  }
  if (opt.connections > 0 && opt.connections < swarm.agents.size()) {
    swarm.agents.resize(opt.connections);
  }

  // One descriptor per agent, plus a few.
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < swarm.agents.size() + 64) {
    lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, swarm.agents.size() + 64);
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }

  std::cout << nlohmann::json{{"phase", "start"},
                              {"agents", swarm.agents.size()},
                              {"server_rss_kib", ServerRssKiB(opt.server_pid)}}
                   .dump()
            << std::endl;

  asio::io_context io(1);
  tcp::resolver resolver(io);
  const auto endpoints = resolver.resolve(opt.host, opt.port);
  std::vector<std::shared_ptr<Agent>> all;
  all.reserve(swarm.agents.size());
  swarm.start = SteadyClock::now();
  for (std::size_t i = 0; i < opt.connect_concurrency; ++i) {
    asio::co_spawn(io, Connector(swarm, io, endpoints, all), asio::detached);
  }
  // Ends the run after --duration, or a second after the expected commands were
  // answered (so that the last results leave the client before the sockets close).
  asio::steady_timer ticker(io);
  std::optional<SteadyClock::time_point> stop_at;
  std::function<void()> tick = [&] {
    ticker.expires_after(std::chrono::milliseconds(100));
    ticker.async_wait([&](const error_code& ec) {
      if (ec) return;
      const auto now = SteadyClock::now();
      if (!stop_at &&
          (swarm.stopping || now - swarm.start > std::chrono::seconds(opt.duration_seconds))) {
        stop_at = now + std::chrono::seconds(1);
      }
      if (stop_at && now >= *stop_at) {
        swarm.stopping = true;
        for (auto& a : all) a->Close();
        return;
      }
      tick();
    });
  };
  tick();
  io.run();

  nlohmann::json summary = {{"phase", "end"},
                            {"connected", swarm.connected},
                            {"failed", swarm.failed},
                            {"server_rss_kib", ServerRssKiB(opt.server_pid)}};
  for (const auto& [id, s] : swarm.commands) {
    summary["commands"][id] = {{"results_sent", s.results},
                               {"first_to_last_result_ms", Ms(s.last_result - s.first_received)}};
  }
  std::cout << summary.dump() << std::endl;
  return swarm.failed == 0 ? 0 : 1;
}
