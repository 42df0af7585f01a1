#pragma once

// The one way to include Boost.Asio in keyward. Boost 1.74 predates the compilers we
// use, so two fixes must come before any Asio header:
//  - <utility> first: 1.74's awaitable.hpp uses std::exchange without including it,
//    which GCC 12's leaner standard headers no longer pull in transitively.
//  - clang (tools such as clang-tidy and clangd, and the fuzz build) only gets co_await
//    support in 1.74 when <experimental/coroutine> exists, which libstdc++ 12 lacks; it
//    does have <coroutine>, so tell Asio to use it.
// Only transport code includes this header (server/, agent/); domain code never does.

#include <utility>

#if defined(__clang__)
#if !defined(BOOST_ASIO_HAS_CO_AWAIT)
#define BOOST_ASIO_HAS_CO_AWAIT 1
#endif
#if !defined(BOOST_ASIO_HAS_STD_COROUTINE)
#define BOOST_ASIO_HAS_STD_COROUTINE 1
#endif
#endif

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace kw::net {

namespace asio = boost::asio;
using tcp = boost::asio::ip::tcp;
using boost::system::error_code;

}  // namespace kw::net
