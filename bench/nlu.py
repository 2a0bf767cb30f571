"""NLU speed and size: parse latency, training time and model size, against scikit-learn baselines.

Usage: python bench/nlu.py [--questions 10000] [--projects 100000]

Trains the intent model on the bundled data (nlu/data), then parses a mix of questions (the
held-out test phrasings, and questions built from gazetteer names: titles, typos, codes,
districts, organizations) with two gazetteers: a small one (a city district's worth of names)
and a synthetic one of N projects. Reported:

- training: wall and CPU time of `train_classifier` (fit + 5-fold temperature and threshold
  selection); baseline: one scikit-learn `TfidfVectorizer(analyzer=features) + LinearSVC` fit;
- model size: the saved .npz on disk, and the memory the loaded model holds (tracemalloc);
- parse latency p50/p99/max (the whole `/model/parse` answer: intent + entities); baseline: the
  scikit-learn pipeline's `decision_function` on one sentence (intent only), same texts;
- the gazetteer index: build time and memory for N projects.

CPU time (process time) is printed next to wall time: it is less sensitive to a busy machine.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from nlu.classifier import IntentClassifier, features, train_classifier
from nlu.entities import EntityExtractor, Gazetteer
from nlu.normalize import fold
from nlu.parser import BUNDLED_DATA, NluParser
from nlu.rasa_format import load_training_data

HELDOUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "nlu_heldout.yml"
DISTRICTS = ["南山区", "江北区", "临湖区", "东城区", "西城区"]
HEADS = ["阳光", "春晖", "彩虹", "向日葵", "邻里", "康乐", "益民", "晨曦", "启明", "同心", "暖心", "乐龄", "福寿", "星光"]
GROUPS = ["助老", "长者", "青少年", "困境儿童", "残障人士", "新市民", "家庭", "独居老人", "流动儿童", "社区矫正"]
KINDS = ["关爱", "成长", "陪伴", "赋能", "互助", "康复", "融入", "照护", "支持", "发展"]
TAILS = ["服务项目", "计划", "行动", "项目"]
EN_HEADS = ["Sunshine", "Spring", "Rainbow", "Sunflower", "Neighbour", "Kangle", "Yimin", "Dawn", "Qiming", "Unity"]
EN_GROUPS = ["Elderly Care", "Seniors", "Youth", "Children", "Disability", "Newcomers", "Family", "Solo Seniors"]


def synthetic_gazetteer(projects: int, seed: int = 1) -> Gazetteer:
    rng = random.Random(seed)
    rows = []
    for i in range(projects):
        zh = f"{rng.choice([*DISTRICTS[:3], '', '', ''])}{rng.choice(HEADS)}{rng.choice(GROUPS)}"
        zh += f"{rng.choice(KINDS)}{rng.choice(TAILS)}（{i // 100 + 1}期{i % 100 + 1}号）"
        en = f"{rng.choice(EN_HEADS)} {rng.choice(EN_GROUPS)} Project No. {i + 1}"
        rows.append((f"SY-{2020 + i % 7}-{i:06d}", zh, en))
    organizations = [
        (f"5144030{i:04d}MJL{i:04d}", f"临江市{h}社工服务中心", f"Linjiang {e} Social Work Center")
        for i, (h, e) in enumerate(zip(HEADS, EN_HEADS * 2, strict=False))
    ]
    return Gazetteer(
        projects=rows,
        organizations=organizations,
        categories=[("A01", "养老服务", "Elderly care services"), ("A02", "青少年服务", "Youth services"),
                    ("A03", "儿童福利", "Child welfare"), ("A04", "残疾人服务", "Disability support")],
        districts=DISTRICTS,
        departments=[("MZJ", "临江市民政局", "Linjiang Civil Affairs Bureau"), ("CL", "临江市残疾人联合会", None)],
    )


def questions(gazetteer: Gazetteer, count: int, seed: int = 2) -> list[str]:
    """Held-out phrasings mixed with questions that name projects (exact, typo, code), places, orgs."""
    rng = random.Random(seed)
    heldout = [ex.text for ex in load_training_data(HELDOUT).examples]
    templates_zh = ["{}拨了多少钱", "{}的进展怎么样", "{}满意度多少", "请问{}验收了吗"]
    templates_en = ["how much has the {} been paid", "progress of the {}", "satisfaction rate of the {}"]
    out = []
    while len(out) < count:
        code, zh, en = rng.choice(gazetteer.projects)
        roll = rng.random()
        if roll < 0.35:
            out.append(rng.choice(heldout))
        elif roll < 0.55:
            out.append(rng.choice(templates_zh).format(zh))
        elif roll < 0.65:
            i = rng.randrange(2, len(zh) - 2)
            out.append(rng.choice(templates_zh).format(zh[:i] + "某" + zh[i + 1 :]))  # a typo
        elif roll < 0.75:
            out.append(rng.choice(templates_en).format(en))
        elif roll < 0.85:
            out.append(f"{code}的拨付情况" if rng.random() < 0.5 else f"how much was {code} paid")
        else:
            org = rng.choice(gazetteer.organizations)[1]
            out.append(f"{rng.choice(DISTRICTS)}有哪些养老项目，{org}做了什么")
    return out


def resident_bytes() -> int:
    """The process's resident set size now (Linux /proc; 0 elsewhere). tracemalloc would slow the
    index build several times over, so the index memory is measured this way."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def latencies(function: Callable[[str], object], texts: list[str]) -> tuple[list[float], float, float]:
    """Per-call wall times (ms), total wall and CPU seconds."""
    function(texts[0])
    times = []
    wall, cpu = time.perf_counter(), time.process_time()
    for text in texts:
        start = time.perf_counter()
        function(text)
        times.append((time.perf_counter() - start) * 1000)
    return times, time.perf_counter() - wall, time.process_time() - cpu


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):.3f} ms  p99 {p99:.3f} ms  max {ordered[-1]:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=10_000)
    parser.add_argument("--projects", type=int, default=100_000)
    args = parser.parse_args()

    data = load_training_data(BUNDLED_DATA)
    print(f"training data: {len(data.examples)} examples, {len(data.intents)} intents")

    wall, cpu = time.perf_counter(), time.process_time()
    model = train_classifier(data)
    train_wall, train_cpu = time.perf_counter() - wall, time.process_time() - cpu
    texts = [ex.text for ex in data.examples]
    labels = [ex.intent for ex in data.examples]
    baseline = make_pipeline(TfidfVectorizer(analyzer=lambda t: features(fold(t)), sublinear_tf=True), LinearSVC(C=2))
    wall, cpu = time.perf_counter(), time.process_time()
    baseline.fit(texts, labels)
    base_wall, base_cpu = time.perf_counter() - wall, time.process_time() - cpu
    print("\n== training")
    print(f"train_classifier (fit + 5-fold calibration/threshold): {train_wall:.2f} s wall, {train_cpu:.2f} s CPU")
    print(f"baseline, one scikit-learn pipeline fit:               {base_wall:.2f} s wall, {base_cpu:.2f} s CPU")
    print(f"ratio (CPU): {train_cpu / base_cpu:.1f}x   features: {model.feature_count}, threshold {model.threshold}, "
          f"coverage floor {model.min_coverage}, temperature {model.temperature:.3f}")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.npz"
        model.save(path)
        disk = path.stat().st_size
        tracemalloc.start()
        loaded = IntentClassifier.load(path)
        memory, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    print("\n== model size")
    print(f"on disk: {disk / 1e6:.2f} MB   in memory after load: {memory / 1e6:.2f} MB")

    small = synthetic_gazetteer(300)
    big = synthetic_gazetteer(args.projects)
    rss_before = resident_bytes()
    wall, cpu = time.perf_counter(), time.process_time()
    big_extractor = EntityExtractor(big, data.synonyms, data.regexes, data.lookups)
    build_wall, build_cpu = time.perf_counter() - wall, time.process_time() - cpu
    grown = resident_bytes() - rss_before
    print(f"\n== gazetteer index of {args.projects} projects (zh + en titles) and {len(big.organizations)} organizations")
    print(f"build: {build_wall:.2f} s wall, {build_cpu:.2f} s CPU; resident memory grew {grown / 1e6:.0f} MB")

    sk_times, _, sk_cpu = latencies(lambda t: baseline.decision_function([t]), questions(small, args.questions))
    print(f"\n== parse latency over {args.questions} mixed questions")
    print(f"baseline: scikit-learn pipeline decision_function, intent only:  {summary(sk_times)}  "
          f"({sk_cpu / args.questions * 1000:.3f} ms CPU/call)")
    intent_times, _, intent_cpu = latencies(loaded.classify, questions(small, args.questions))
    print(f"IntentClassifier.classify, intent only:                         {summary(intent_times)}  "
          f"({intent_cpu / args.questions * 1000:.3f} ms CPU/call, {intent_cpu / sk_cpu:.2f}x baseline)")
    for name, gazetteer, extractor in (
        ("small gazetteer (300 projects)", small, EntityExtractor(small, data.synonyms, data.regexes, data.lookups)),
        (f"{args.projects}-project gazetteer", big, big_extractor),
    ):
        nlu = NluParser(loaded, extractor)
        times, _, cpu_total = latencies(nlu.parse, questions(gazetteer, args.questions))
        print(f"parse, {name + ':':<39} {summary(times)}  "
              f"({cpu_total / args.questions * 1000:.3f} ms CPU/call, {cpu_total / sk_cpu:.2f}x baseline)")
    check = time.perf_counter(), time.process_time()
    for _ in range(3_000_000):
        pass
    print(f"\n(machine speed check: an empty 3M-iteration loop took {time.perf_counter() - check[0]:.2f} s wall, "
          f"{time.process_time() - check[1]:.2f} s CPU)")


if __name__ == "__main__":
    main()
