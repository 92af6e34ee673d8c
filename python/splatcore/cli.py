"""The `splatcore` command line."""
import argparse
import json
import sys


def _cmd_info(args):
    from . import info

    facts = info()
    if args.json:
        print(json.dumps(facts, indent=2))
        return 0
    print(f"splatcore {facts['version']} ({facts['build_type']} build)")
    built = [name for name, ok in facts["backends"].items() if ok]
    print(f"  backends built : {', '.join(built)}")
    seen = ", ".join(f"{k}: {v}" for k, v in facts["devices"].items())
    print(f"  devices seen   : {seen}")
    print(f"  BLAS           : {facts['blas']}")
    print(f"  CPU threads    : {facts['threads']}")
    return 0


def build_parser():
    p = argparse.ArgumentParser(prog="splatcore", description="Photos to 3D Gaussian splats and meshes.")
    sub = p.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="version, backends, devices, BLAS and threads of this build")
    info.add_argument("--json", action="store_true", help="print as JSON")
    info.set_defaults(func=_cmd_info)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
