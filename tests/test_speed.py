from labsutil import speed
from labsutil.llm import LLM


def test_environment_report_has_the_essentials():
    info = speed.environment()
    for key in ("python", "torch threads", "memory total (GiB)", "GPU", "version transformers"):
        assert info[key]


def test_decode_throughput_counts_fixed_length(tiny_model_dir):
    llm = LLM(str(tiny_model_dir))
    result = speed.decode_throughput(llm, batch_size=3, new_tokens=5)
    assert result["tokens_out"] == 15 and result["tokens_per_s"] > 0
