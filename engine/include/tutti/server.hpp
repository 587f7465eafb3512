#pragma once

/// The local HTTP control endpoint behind `tutti serve`: OpenAI-compatible
/// chat completions, runs with server-sent events, provider state and
/// Prometheus metrics, on top of a `tutti::engine`. docs/http.md is the
/// reference for every route. No CAF and no Boost include.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include "tutti/engine.hpp"

namespace tutti {

/// How the endpoint listens and what it allows.
struct server_options {
  /// An address ("127.0.0.1", "::1", "0.0.0.0") or "localhost".
  std::string host = "127.0.0.1";
  /// 0: any free port (see `server::port`).
  int port = 8700;
  /// When set, every route but /healthz needs `Authorization: Bearer
  /// <token>`. Required to listen on anything but loopback.
  std::string token;
  /// Most connections open at once; a connection beyond them gets a 503 and
  /// is closed. A connection (idle, slow or streaming) costs a socket and a
  /// few kilobytes, never a thread.
  size_t max_connections = 4096;
  /// Threads serving every connection (HTTP parsing and writing; nothing on
  /// them waits).
  size_t io_threads = 2;
  /// Largest request body, whatever its transfer encoding; a larger one gets
  /// 413 before it is read.
  size_t max_body_bytes = 1 << 20;
  /// A request's whole head must arrive within this, from its first byte
  /// (and a new connection's first request within this of the connect).
  std::chrono::milliseconds header_timeout{10'000};
  /// A request's whole body must arrive within this.
  std::chrono::milliseconds read_timeout{30'000};
  /// A client that takes longer than this to take one write is dropped.
  std::chrono::milliseconds write_timeout{30'000};
  /// An idle keep-alive connection is closed after this long.
  std::chrono::milliseconds keep_alive_timeout{5'000};
  /// Finished runs are kept this long, and at most this many, then forgotten.
  std::chrono::milliseconds keep_runs_for{std::chrono::minutes{15}};
  size_t keep_runs_max = 1000;
  /// Most runs (`POST /v1/runs`) running at once: a POST answers before its
  /// run ends, so one client could otherwise start any number. One more gets
  /// 429 `too_many_runs` with `Retry-After: 1`. 0 counts as 1.
  size_t max_running_runs = 1000;
  /// When set, one JSON line per answered request is appended to this file
  /// ("-": standard error): time, client, method, path, route, the model or
  /// pipeline asked, status, milliseconds, body sizes, whether it streamed.
  /// Never a header, a body or a token.
  std::string access_log;
  /// Web origins ("https://app.example.com") whose pages may call this
  /// server from a browser (CORS): their preflights are answered and their
  /// responses carry Access-Control-Allow-Origin. "*" is any origin and
  /// needs a token. Empty: no cross-origin access.
  std::vector<std::string> cors_origins;
  /// Requests may define their own ensemble (`tutti.ensemble`); false: a
  /// 403 `inline_ensembles_disabled`. API keys limited to some targets may
  /// only compose ensembles of those providers either way.
  bool inline_ensembles = true;
  /// Where a reload reads the config from (`tutti serve` rereads its file);
  /// throws `config_error`. Unset: `POST /admin/reload` answers 501.
  std::function<tutti::config()> reload_source;
};

/// The endpoint refuses to start: a non-loopback address without a token,
/// a port in use, an address that does not resolve. `what()` says which in
/// plain words.
class server_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// The HTTP endpoint. Serves on its own threads; `engine` must outlive it.
class server {
public:
  /// Checks the options (throws `server_error`) and binds the port, so that
  /// `port()` is known once this returns.
  server(tutti::engine& engine, server_options options);

  /// Stops (as `stop`) and joins every thread it started.
  ~server();

  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// The bound port (the real one when the options asked for 0).
  int port() const;

  /// "http://HOST:PORT" as clients reach it.
  std::string url() const;

  /// Serves until `stop`; returns once every connection is closed.
  void run();

  /// `run` on a background thread; returns at once.
  void start();

  /// Stops accepting, cancels every question and run in flight, ends every
  /// stream, closes every connection. Returns once `run` has returned (or at
  /// once when it was never called). Safe from any thread but a signal
  /// handler, and more than once.
  void stop();

  /// Reads the config again (`reload_source`) and serves it from now on
  /// (`engine::reload`): what `POST /admin/reload` and `tutti serve`'s
  /// SIGHUP do. Returns a line saying what it now serves; throws
  /// `config_error`, and the config in use goes on, when the new one will
  /// not do. Safe from any thread.
  std::string reload();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace tutti
