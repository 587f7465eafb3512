// Every built-in plugin, registered under the word users write in YAML after
// `kind:` (codecs) or `combine:` (strategies). Grep for a YAML word, find it.

#include "tutti/registry.hpp"

#include "plugins/codecs/anthropic/anthropic_codec.hpp"
#include "plugins/codecs/azure_openai/azure_openai_codec.hpp"
#include "plugins/codecs/bedrock/bedrock_codec.hpp"
#include "plugins/codecs/gemini/gemini_codec.hpp"
#include "plugins/codecs/ollama/ollama_codec.hpp"
#include "plugins/codecs/openai/openai_codec.hpp"
#include "plugins/codecs/openai_compatible/openai_compatible_codec.hpp"
#include "plugins/combine/collect/collect.hpp"
#include "plugins/combine/council/council.hpp"
#include "plugins/combine/debate/debate.hpp"
#include "plugins/combine/first/first.hpp"
#include "plugins/combine/judge/judge.hpp"
#include "plugins/combine/rank/rank.hpp"
#include "plugins/combine/synthesize/synthesize.hpp"
#include "plugins/combine/usc/usc.hpp"
#include "plugins/combine/vote/vote.hpp"

namespace tutti {

void register_builtin_plugins(registry& reg) {
  reg.add_codec("anthropic", make_anthropic_codec);
  reg.add_codec("openai", make_openai_codec);
  reg.add_codec("openai-compatible", make_openai_compatible_codec);
  reg.add_codec("azure-openai", make_azure_openai_codec);
  reg.add_codec("gemini", make_gemini_codec);
  reg.add_codec("bedrock", make_bedrock_codec);
  reg.add_codec("ollama", make_ollama_codec);
  reg.add_combine("collect", make_collect, combine_traits{});
  reg.add_combine("first", make_first, first_traits());
  reg.add_combine("vote", make_vote, vote_traits());
  reg.add_combine("judge", make_judge, judge_traits());
  reg.add_combine("rank", make_rank, rank_traits());
  reg.add_combine("synthesize", make_synthesize, synthesize_traits());
  reg.add_combine("usc", make_usc, usc_traits());
  reg.add_combine("debate", make_debate, debate_traits());
  reg.add_combine("council", make_council, council_traits());
}

} // namespace tutti
