#pragma once

// A throwaway PostgreSQL server for a test: Debian's binaries
// (/usr/lib/postgresql/<version>/bin, `./setup.sh test` installs them), a
// fresh cluster in a temporary directory, listening on a free loopback port
// and a socket inside that directory; stopped and removed with the object.
// The server refuses to run as root, so a root test runs initdb and pg_ctl
// as the `postgres` user. Every child process is waited for a bounded time.

#include "tests/integration/child_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace tutti::testing {

/// What one bounded run of a command left behind.
using command_result = run_result;

/// Runs `argv` (argv[0] a path) in `cwd` with a minimal environment and
/// /dev/null as stdin, collecting its output; kills it (SIGKILL) when it has
/// not ended after `timeout`.
inline command_result run_command(const std::vector<std::string>& argv,
                                  const std::filesystem::path& cwd,
                                  std::chrono::milliseconds timeout) {
  child_process child{argv,
                      {{"PATH", "/usr/bin:/bin:/usr/sbin:/sbin"},
                       {"LC_ALL", "C"},
                       {"TZ", "UTC"}},
                      cwd};
  return child.wait(timeout);
}

class postgres_server {
public:
  /// The role the tests connect as (trusted: no password).
  static constexpr const char* user = "tutti";

  /// Creates the cluster and starts it; throws std::runtime_error saying
  /// what is missing or what failed (with the server's log).
  postgres_server() {
    bin_ = find_bin_dir();
    char pattern[] = "/tmp/tutti-pg-XXXXXX";
    if (mkdtemp(pattern) == nullptr)
      throw std::runtime_error("mkdtemp under /tmp failed");
    dir_ = pattern;
    try {
      as_postgres_ = geteuid() == 0;
      if (as_postgres_) {
        auto* pw = getpwnam("postgres");
        if (pw == nullptr)
          throw std::runtime_error(
              "running as root and there is no `postgres` user to run the "
              "server as: `./setup.sh test` installs Debian's postgresql, "
              "which creates it");
        if (chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0)
          throw std::runtime_error("cannot chown " + dir_.string() +
                                   " to postgres");
      }
      port_ = free_port();
      init_cluster();
      start();
    } catch (...) {
      remove_all();
      throw;
    }
  }

  ~postgres_server() {
    if (running_) {
      // Fast enough, and nothing in a throwaway cluster needs a clean
      // shutdown.
      auto r = as_server_user({bin("pg_ctl"), "-D", data_dir(), "-m",
                               "immediate", "-w", "-t", "10", "stop"},
                              std::chrono::seconds{15});
      if (r.exit_code != 0)
        kill_postmaster();
    }
    remove_all();
  }

  postgres_server(const postgres_server&) = delete;
  postgres_server& operator=(const postgres_server&) = delete;

  int port() const { return port_; }

  /// libpq's URI of `database` (the default one by default).
  std::string url(const std::string& database = "postgres") const {
    return std::string{"postgresql://"} + user +
           "@127.0.0.1:" + std::to_string(port_) + "/" + database;
  }

  /// Starts the server (again) on the same port and data directory; waits
  /// until it accepts connections, at most 30 s.
  void start() {
    auto r = as_server_user({bin("pg_ctl"), "-D", data_dir(), "-l",
                             (dir_ / "server.log").string(), "-w", "-t", "30",
                             "start"},
                            std::chrono::seconds{40});
    if (r.exit_code != 0)
      throw std::runtime_error("PostgreSQL did not start (pg_ctl: " +
                               describe(r) + "); server log:\n" + log());
    running_ = true;
  }

  /// Stops the server (fast shutdown: connections are cut), waiting at most
  /// 30 s.
  void stop() {
    auto r = as_server_user({bin("pg_ctl"), "-D", data_dir(), "-m", "fast",
                             "-w", "-t", "30", "stop"},
                            std::chrono::seconds{40});
    if (r.exit_code != 0)
      throw std::runtime_error(
          "PostgreSQL did not stop (pg_ctl: " + describe(r) + ")");
    running_ = false;
  }

  /// `pg_dump` of `database` as SQL text.
  std::string dump(const std::string& database = "postgres") const {
    auto r = run_command({bin("pg_dump"), "-h", "127.0.0.1", "-p",
                          std::to_string(port_), "-U", user, "-d", database},
                         dir_, std::chrono::seconds{60});
    if (r.exit_code != 0)
      throw std::runtime_error("pg_dump failed: " + describe(r));
    return r.out;
  }

  /// The server's log so far.
  std::string log() const {
    std::ifstream in{dir_ / "server.log"};
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

private:
  static std::filesystem::path find_bin_dir() {
    // The newest version installed; Debian keeps each in its own directory.
    std::vector<std::filesystem::path> found;
    std::error_code ec;
    for (auto& entry :
         std::filesystem::directory_iterator{"/usr/lib/postgresql", ec}) {
      auto bin = entry.path() / "bin";
      if (std::filesystem::exists(bin / "initdb") &&
          std::filesystem::exists(bin / "pg_ctl") &&
          std::filesystem::exists(bin / "postgres"))
        found.push_back(bin);
    }
    if (found.empty())
      throw std::runtime_error(
          "PostgreSQL's server binaries (initdb, pg_ctl, postgres) are not "
          "under /usr/lib/postgresql/*/bin: `./setup.sh test` installs "
          "Debian's postgresql, which the store's PostgreSQL tests need");
    std::sort(found.begin(), found.end(),
              [](auto& a, auto& b) { return version_of(a) < version_of(b); });
    return found.back();
  }

  static int version_of(const std::filesystem::path& bin) {
    return std::atoi(bin.parent_path().filename().c_str());
  }

  static int free_port() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
      throw std::runtime_error("socket failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      close(fd);
      throw std::runtime_error("cannot find a free loopback port");
    }
    close(fd);
    return ntohs(addr.sin_port);
  }

  void init_cluster() {
    auto r = as_server_user({bin("initdb"), "-D", data_dir(), "-U", user,
                             "--auth=trust", "-E", "UTF8", "--no-locale",
                             "--no-sync"},
                            std::chrono::seconds{120});
    if (r.exit_code != 0)
      throw std::runtime_error("initdb failed: " + describe(r));
    // In the cluster's own file, so that start() after stop() needs no
    // options; the file stays the postgres user's when root appends to it.
    std::ofstream conf{dir_ / "data" / "postgresql.conf", std::ios::app};
    conf << "\nport = " << port_ << "\nlisten_addresses = '127.0.0.1'"
         << "\nunix_socket_directories = '" << dir_.string() << "'"
         << "\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off"
         << "\nmax_connections = 50\n";
    if (!conf)
      throw std::runtime_error("cannot write postgresql.conf in " +
                               dir_.string());
  }

  std::string bin(const char* name) const { return (bin_ / name).string(); }
  std::string data_dir() const { return (dir_ / "data").string(); }

  command_result as_server_user(std::vector<std::string> argv,
                                std::chrono::milliseconds timeout) const {
    if (as_postgres_) {
      const char* runuser = std::filesystem::exists("/usr/sbin/runuser")
                                ? "/usr/sbin/runuser"
                                : "/sbin/runuser";
      argv.insert(argv.begin(), {runuser, "-u", "postgres", "--"});
    }
    return run_command(argv, dir_, timeout);
  }

  /// When pg_ctl cannot stop it, the postmaster is killed by its pid file.
  void kill_postmaster() {
    std::ifstream pid_file{dir_ / "data" / "postmaster.pid"};
    long pid = 0;
    if (pid_file >> pid && pid > 1)
      ::kill(static_cast<pid_t>(pid), SIGKILL);
  }

  void remove_all() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  static std::string describe(const command_result& r) {
    std::string text =
        r.timed_out ? "timed out" : "exit code " + std::to_string(r.exit_code);
    if (!r.err.empty())
      text += ": " + r.err;
    else if (!r.out.empty())
      text += ": " + r.out;
    return text;
  }

  std::filesystem::path bin_;
  std::filesystem::path dir_;
  bool as_postgres_ = false;
  bool running_ = false;
  int port_ = 0;
};

} // namespace tutti::testing
