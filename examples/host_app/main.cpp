// A host program embedding tutti: loads a config, asks an ensemble one
// question through a future, then again with the members' tokens streamed
// as they arrive.
//
//   host_app CONFIG ENSEMBLE "question"

#include <future>
#include <iostream>
#include <string>

#include <tutti/engine.hpp>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: host_app CONFIG ENSEMBLE QUESTION\n";
    return 2;
  }
  try {
    auto engine = tutti::engine::from_file(argv[1]);

    // 1. The plain path: a future holding the whole answer.
    tutti::ensemble_answer answer = engine.ask(argv[2], argv[3]).get();
    std::cout << "answer (" << answer.status << "): " << answer.text << '\n';
    for (auto& m : answer.members) {
      std::cout << "  " << m.member << ": ";
      if (m.ok)
        std::cout << "ok, " << m.reply.usage.output_tokens << " tokens, "
                  << m.reply.timing.total_us / 1000 << " ms\n";
      else
        std::cout << "failed (" << m.error.kind << "): " << m.error.message
                  << '\n';
    }

    // 2. Streamed: callbacks run on an engine thread, in order; the handle
    // could cancel the question with engine.cancel(handle).
    tutti::ask_options options;
    options.stream = true;
    options.on_member_done = [](const tutti::member_outcome& m) {
      std::cout << "  [" << m.member << " done: " << (m.ok ? "ok" : "failed")
                << "]\n";
    };
    std::promise<tutti::ensemble_answer> streamed;
    auto handle = engine.start_ask(
        argv[2], {{"user", argv[3]}}, options,
        [&](tutti::ensemble_answer a) { streamed.set_value(std::move(a)); });
    std::cout << "streaming question " << handle << "...\n";
    auto second = streamed.get_future().get();
    std::cout << "streamed answer (" << second.status << "), "
              << second.usage.output_tokens << " output tokens\n";
    return second.status == tutti::answer_status::failed ? 1 : 0;
  } catch (const tutti::config_error& e) {
    std::cerr << "host_app: " << e.what() << '\n';
    return 2;
  }
}
