"""``civicbot nlu train|test|parse|serve``: the NLU on the command line and as a Rasa-style server."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.config import Settings
from nlu.classifier import evaluate, evaluate_on, train_classifier
from nlu.parser import BUNDLED_DATA, NluParser, default_cache_dir, load_default_parser
from nlu.rasa_format import RasaFormatError, TrainingData, load_training_data


def add_parser(sub: Any) -> None:
    nlu = sub.add_parser("nlu", help="train, evaluate, parse with or serve the NLU (Rasa NLU YAML data)")
    actions = nlu.add_subparsers(dest="nlu_command", required=True, metavar="ACTION")

    def data_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data", type=Path, default=None,
                       help="a Rasa NLU YAML file or folder (default: the bundled data)")

    p = actions.add_parser("train", help="train the intent model and cache it")
    data_option(p)
    p.set_defaults(handler=cmd_train)

    p = actions.add_parser("test", help="per-intent precision/recall/F1, macro-F1 and confusions")
    data_option(p)
    p.add_argument("--cross-validation", action="store_true", help="k-fold cross-validation on --data")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--test", type=Path, default=None, help="held-out Rasa NLU data to evaluate on")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_test)

    p = actions.add_parser("parse", help="parse stdin lines to JSON lines in the /model/parse shape")
    data_option(p)
    p.set_defaults(handler=cmd_parse)

    p = actions.add_parser("serve", help="serve Rasa's POST /model/parse")
    data_option(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5005)
    p.set_defaults(handler=cmd_serve)


def _load(path: Path | None) -> TrainingData:
    try:
        return load_training_data(path or BUNDLED_DATA)
    except (RasaFormatError, OSError) as exc:
        print(f"{exc}", file=sys.stderr)
        raise SystemExit(1) from None


async def _parser(settings: Settings, data: Path | None) -> NluParser:
    """The parser recognizing the names (projects, organizations, districts…) of the configured database."""
    from bot.app import open_app
    from dialogs.understanding import Understanding

    _load(data)  # a malformed file is reported before anything else happens
    app = await open_app(settings)
    try:
        understanding = Understanding(app.sessions, zone=settings.zone, data_path=data, cache_dir=settings.nlu_cache)
        await understanding.prepare()
        return understanding.parser
    finally:
        await app.close()


async def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    data = _load(args.data)
    model = train_classifier(data)
    path = (settings.nlu_cache or default_cache_dir()) / f"manual-{data.fingerprint()[:20]}.npz"
    model.save(path)
    load_default_parser(args.data, settings.nlu_cache)  # also fill the cache the bot reads
    print(f"{len(data.examples)} examples, {len(data.intents)} intents; threshold {model.threshold:.2f}; "
          f"saved {path}")
    return 0


def _print_report(report: Any, title: str) -> None:
    print(title)
    print(f"{'intent':<24}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
    for name, row in sorted(report.per_intent.items()):
        print(f"{name:<24}{row['precision']:>10.3f}{row['recall']:>10.3f}{row['f1']:>10.3f}{row['support']:>10}")
    print(f"accuracy {report.accuracy:.4f}   macro-F1 {report.macro_f1:.4f}")
    if report.confusions:
        print("top confusions (true → predicted: count):")
        for true, predicted, count in report.confusions[:10]:
            print(f"  {true} → {predicted}: {count}")


async def cmd_test(args: argparse.Namespace, settings: Settings) -> int:
    data = _load(args.data)
    if args.cross_validation:
        report = evaluate(data, cross_validation=True, folds=args.folds)
        title = f"{args.folds}-fold cross-validation on {len(data.examples)} examples"
    else:
        model = train_classifier(data)
        test = _load(args.test) if args.test else data
        report = evaluate_on(model, test)
        title = f"trained on {len(data.examples)} examples, tested on " + (
            f"{len(test.examples)} held-out examples" if args.test else "the training data itself"
        )
    if args.json:
        result = report.to_dict()
        print(json.dumps({k: result[k] for k in ("accuracy", "macro_f1", "per_intent", "confusions")},
                         ensure_ascii=False))
    else:
        _print_report(report, title)
    return 0


async def cmd_parse(args: argparse.Namespace, settings: Settings) -> int:
    parser = await _parser(settings, args.data)
    for line in sys.stdin:
        text = line.rstrip("\n")
        if text.strip():
            print(json.dumps(parser.parse(text), ensure_ascii=False), flush=True)
    return 0


def make_server(parser: NluParser) -> web.Application:
    async def parse(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"error": "the body must be JSON like {\"text\": \"…\"}"}, status=400)
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str):
            return web.json_response({"error": "missing string field 'text'"}, status=400)
        return web.json_response(parser.parse(text), dumps=lambda d: json.dumps(d, ensure_ascii=False))

    async def status(request: web.Request) -> web.Response:
        return web.json_response({"model_file": "civicbot-nlu", "num_active_training_jobs": 0})

    app = web.Application(client_max_size=64 * 1024)
    app.router.add_post("/model/parse", parse)
    app.router.add_get("/status", status)
    return app


async def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    parser = await _parser(settings, args.data)
    runner = web.AppRunner(make_server(parser))
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port)
    await site.start()
    print(f"serving POST http://{args.host}:{args.port}/model/parse", file=sys.stderr)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
    return 0
