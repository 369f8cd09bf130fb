"""The entry point of the self-contained bundle (installer/build_linux.sh): the same `engram` command.

A bundle has no Python interpreter for `python -c CODE`, which `engram doctor` uses to try Qt in a
child process (a missing X library makes Qt abort); the bundle runs such code itself.
"""
import sys

if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "-c":
        code = sys.argv[2]
        sys.argv = ["-c", *sys.argv[3:]]
        exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
        sys.exit(0)
    from app.cli import main

    sys.exit(main())
