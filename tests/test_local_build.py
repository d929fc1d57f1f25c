"""The portable llama.cpp build: which level a CPU gets, how a build is recognised as ours, and
what `evalseed local info --json` says. The build itself runs in .ci/run (`evalseed local install`)
and the live tests use what it installed."""

from __future__ import annotations

import json

import pytest

from evalseed import local_build
from evalseed.local_build import LLAMA_CPP_PYTHON, Installed, mismatch, profile

V3 = {"sse4_2", "avx", "avx2", "bmi2", "fma", "f16c"}


@pytest.mark.parametrize("flags, level", [
    (V3 | {"avx512f", "avx512bw", "amx_tile", "amx_int8"}, "x86-64-v3"),  # the Xeon of issue 13
    (V3, "x86-64-v3"),
    (V3 - {"avx2"}, "x86-64-v2"),  # Sandy/Ivy Bridge: AVX without AVX2
    ({"sse4_2"}, "x86-64-v2"),
    (set(), "x86-64"),
])
def test_x86_levels_never_use_what_the_cpu_lacks_nor_avx512_or_amx(flags, level):
    p = profile("x86_64", flags)
    assert p.name == level
    args = dict(a.removeprefix("-D").split("=") for a in p.cmake_args)
    assert args["GGML_NATIVE"] == "OFF"
    for name in ("GGML_AVX512", "GGML_AVX512_VNNI", "GGML_AVX512_BF16", "GGML_AMX_TILE", "GGML_AMX_INT8"):
        assert args[name] == "OFF"
    cpu_flag = {"SSE42": "sse4_2", "AVX": "avx", "AVX2": "avx2", "BMI2": "bmi2", "FMA": "fma", "F16C": "f16c"}
    for opt, flag in cpu_flag.items():
        if args[f"GGML_{opt}"] == "ON":
            assert flag in flags, f"{opt} switched on for a CPU without {flag}"


def test_other_architectures_get_the_generic_build():
    p = profile("aarch64", set())
    assert p.name == "aarch64" and "-DGGML_NATIVE=OFF" in p.cmake_args


def test_the_wheel_folder_names_version_level_and_flags():
    a, b = profile("x86_64", V3), profile("x86_64", {"sse4_2"})
    assert a.tag.startswith(f"llama-cpp-python-{LLAMA_CPP_PYTHON}-x86-64-v3-")
    assert a.tag != b.tag and a.tag == profile("x86_64", V3 | {"avx512f"}).tag


def _dist_info(tmp_path, monkeypatch, version, url):
    """A real installed-distribution record (dist-info folder) on sys.path, as pip writes it."""
    site = tmp_path / "site"
    info = site / f"llama_cpp_python-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: llama_cpp_python\nVersion: {version}\n")
    if url:
        (info / "direct_url.json").write_text(json.dumps({"url": url, "archive_info": {}}))
    monkeypatch.syspath_prepend(str(site))


def test_a_build_from_our_cache_is_recognised_by_its_folder(tmp_path, monkeypatch):
    tag = profile("x86_64", V3).tag
    _dist_info(tmp_path, monkeypatch, LLAMA_CPP_PYTHON,
               f"file:///home/u/.cache/evalseed/wheels/{tag}/llama_cpp_python-{LLAMA_CPP_PYTHON}-py3-none-linux_x86_64.whl")
    got = local_build.installed()
    assert got == Installed(LLAMA_CPP_PYTHON, got.origin, "x86-64-v3") and got.ours
    assert mismatch(got, profile("x86_64", V3)) is None
    assert "built for x86-64-v3, and this CPU is x86-64-v2" in mismatch(got, profile("x86_64", {"sse4_2"}))


@pytest.mark.parametrize("url", [None, "file:///root/.cache/pip/wheels/ab/cd/llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl"])
def test_a_build_from_anywhere_else_is_named_as_foreign(tmp_path, monkeypatch, url):
    _dist_info(tmp_path, monkeypatch, LLAMA_CPP_PYTHON, url)
    got = local_build.installed()
    assert not got.ours
    why = mismatch(got, profile("x86_64", V3))
    assert why and "not built by `evalseed local install`" in why and "another CPU" in why


def test_nothing_installed_is_no_mismatch():
    assert mismatch(Installed(None, None, None), profile("x86_64", V3)) is None


def test_local_info_json_describes_this_machine(cli):
    code, out, _ = cli("local", "info", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["this_cpu"] == profile().name
    assert info["portable_build_args"] == list(profile().cmake_args)
    if info["installed_version"] and info["built_for"]:
        # Our build: llama.cpp itself reports no AVX-512 compiled in.
        assert info["problem"] is None and "AVX512 = 1" not in (info["system_info"] or "")
