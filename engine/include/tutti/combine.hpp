#pragma once

/// The interface of a combine strategy plugin: a pure function from the
/// members' outcomes to one answer. A strategy that needs another model call
/// (a judge, a synthesizer) does not make it: it returns the call as data,
/// the aggregator makes it through the same provider and limiter path as any
/// member, appends the outcome to `combine_input::calls` and asks the
/// strategy again.

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tutti/messages.hpp"

namespace tutti {

/// What a strategy's setting holds, so that whoever gives it (the config
/// reader, the HTTP endpoint) checks it the same way.
enum class setting_type : uint8_t {
  text,     ///< any string: a rubric, a prompt
  provider, ///< the name of a provider of the config, which must exist
  regex,    ///< a regular expression; the strategy's factory compiles it
};

/// One setting a strategy reads from its ensemble's YAML (a key beside
/// `combine:`).
struct combine_setting {
  std::string name;
  setting_type type = setting_type::text;
  /// An ensemble using the strategy must give it.
  bool required = false;
  /// What it is for, as error messages say it ("the provider that judges").
  std::string purpose;
};

/// What a strategy declares about itself, registered beside its factory.
struct combine_traits {
  /// The settings it reads; any other is refused where it is given.
  std::vector<combine_setting> settings;
  /// Its answer is the first success to arrive: the aggregator streams
  /// that member's reply as the answer the moment it arrives.
  bool streams_first_success = false;
  /// Its answer is always one member's reply (`combined::winner`), so it can
  /// answer with that member's tool calls or structured (JSON) reply. A
  /// strategy that writes an answer of its own cannot, and a request with
  /// tools or a JSON `response_format` is refused for it.
  bool answers_with_a_member = false;
};

/// A strategy's settings as an ensemble gave them, by name: only those the
/// strategy declares, each of its declared type. Each strategy reads the
/// ones it needs; its factory rejects bad values (a regex that does not
/// compile) by throwing `std::invalid_argument` with a plain message, which
/// the config loader reports at the ensemble's file:line:column.
class combine_options {
public:
  combine_options() = default;

  /// `{{"extract", "(\\d+)"}}`: settings given in code (tests, hosts).
  combine_options(
      std::initializer_list<std::pair<const std::string, std::string>> settings)
      : values_(settings) {}

  /// The value given for `name`; empty when none was.
  std::string text(std::string_view name) const {
    auto i = values_.find(std::string(name));
    return i == values_.end() ? std::string{} : i->second;
  }

  bool has(std::string_view name) const {
    return values_.count(std::string(name)) > 0;
  }

  void set(std::string name, std::string value) {
    values_[std::move(name)] = std::move(value);
  }

  /// Every setting given, by name.
  const std::map<std::string, std::string>& all() const { return values_; }

  bool operator==(const combine_options& other) const {
    return values_ == other.values_;
  }

private:
  std::map<std::string, std::string> values_;
};

/// What a strategy sees.
struct combine_input {
  /// The user's question (the last user message), for judges and
  /// synthesizers.
  std::string question;
  /// Every member's outcome, in member order, failures included. Members the
  /// ensemble no longer needed (cancelled once `until` was met) are failures
  /// of kind `cancelled`.
  std::vector<member_outcome> outcomes;
  /// Indices into `outcomes` in the order the outcomes reached the ensemble
  /// (what "first" means: the first success here is the one a stream
  /// showed). Empty when unknown; then the shortest `total_us` is first.
  std::vector<size_t> arrival;
  /// One weight per outcome (1 unless the YAML says otherwise).
  std::vector<double> weights;
  /// The outcomes of the calls this strategy asked for, in order.
  std::vector<member_outcome> calls;
};

/// A model call a strategy asks the aggregator to make for it.
struct model_call {
  std::string provider; ///< a provider name from the config
  std::string label;    ///< how the call is listed, e.g. "judge"
  std::string system;   ///< system prompt; may be empty
  std::string prompt;   ///< the user message
  /// The call's tokens are the answer's own tokens (synthesize): the
  /// aggregator streams them to the listener as the answer.
  bool streams_answer = false;
  /// A member's turn in a round (debate, council): the call goes to this
  /// member (its label) with its provider, model and parameters, within the
  /// question's deadline, and its tokens reach the listener labelled with
  /// `label`. Empty: `provider` is asked, with a deadline of its own.
  std::string member;
  /// With `member`: the call goes on with the question's conversation and
  /// parameters: the question's messages, then `previous` as the member's
  /// own reply, then `prompt` as the user's next turn (`system` unused).
  bool continues_question = false;
  std::string previous;
};

/// What a strategy returns: either a finished answer, or more calls to make
/// (`call` or `calls` set; the other fields are then ignored).
struct combined {
  /// ok: there is an answer; failed: there is none. The aggregator turns ok
  /// into partial when a member failed (other than being cancelled because
  /// the ensemble was done), and into failed below `min_success`.
  answer_status status = answer_status::failed;
  std::string text;
  std::string winner; ///< label of the member whose reply is `text`
  std::vector<vote_row> votes;
  double agreement = 0;
  std::vector<std::string> ranking;
  /// Beside `ranking`, each member's mean rank over the reviews (council).
  std::vector<double> mean_ranks;
  std::vector<peer_review> reviews;
  int rounds = 0; ///< rounds of answers held (debate); 0: not a debate
  std::string note;
  std::optional<model_call> call;
  /// Several calls made at once (a round in which every member revises or
  /// reviews): the aggregator makes them together and, once each has its
  /// outcome (or the round's deadline passed), appends the outcomes to
  /// `combine_input::calls` in this order and asks again. A call names a
  /// member (`model_call::member`) or one of `providers_called()`. Not with
  /// `call`; none of them streams the answer. A round of members' turns
  /// that cannot finish before the question's deadline (it has less time
  /// left than the last round took) is not sent: each of its calls fails
  /// with `timeout_total`, saying so.
  std::vector<model_call> calls;
};

class combine_strategy {
public:
  virtual ~combine_strategy() = default;

  /// Combines `input`; see `combined`.
  virtual combined combine(const combine_input& input) const = 0;

  /// The providers this strategy may ask (`judge`, `synthesizer`), so that
  /// the config loader can check they exist. None by default.
  virtual std::vector<std::string> providers_called() const { return {}; }
};

} // namespace tutti
