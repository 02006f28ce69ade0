import json, transformers
from transformers import (LlamaConfig, MistralConfig, Qwen2Config, Phi3Config, GlmConfig, Glm4Config, Qwen3Config,
                          Gemma2Config, Gemma3TextConfig)
out = {"transformers": transformers.__version__, "configs": {}}
for arch, cls in [("LlamaForCausalLM", LlamaConfig), ("MistralForCausalLM", MistralConfig), ("Qwen2ForCausalLM", Qwen2Config),
                  ("Phi3ForCausalLM", Phi3Config), ("GlmForCausalLM", GlmConfig), ("Glm4ForCausalLM", Glm4Config),
                  ("Qwen3ForCausalLM", Qwen3Config), ("Gemma2ForCausalLM", Gemma2Config), ("Gemma3ForCausalLM", Gemma3TextConfig)]:
    c = cls()
    d = c.to_dict()
    out["configs"][arch] = {"model_type": cls.model_type, "defaults": {k: v for k, v in sorted(d.items())}}
print(json.dumps(out, indent=1, default=str))
