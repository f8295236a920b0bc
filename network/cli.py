"""Shared command-line plumbing for every CLI: an argparse parser whose errors are one line and exit
code 2, the one error type a CLI raises (`CLIError`, carrying its exit code), the output-path
check, the model loader, the positive-integer option type, and `run_cli`, which turns those
errors into one `error: ...` line on stderr and an exit status."""
import argparse
import os
import sys
from pathlib import Path

EXIT_INPUT = 2   # bad input, unusable model or data, unwritable output


class CLIError(Exception):
    """A user-facing failure: printed as one `error: ...` line; the process exits with `code`."""

    def __init__(self, message, code=EXIT_INPUT):
        super().__init__(message)
        self.code = code


class OneLineParser(argparse.ArgumentParser):
    """ArgumentParser that reports bad input as a single `error: ...` line (no usage dump)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"error: {message} (see --help)\n")


def output_dir_problem(path, option):
    """A one-line reason why `path` cannot become a writable directory, or None if it can.

    Walks up to the first existing ancestor: it must be a directory we may write into. Used by
    the command lines to fail before any work, so nothing is computed only to be lost.
    """
    probe = Path(path)
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        return f"{option} {str(path)!r}: {str(probe)!r} exists and is not a directory"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{option} {str(path)!r}: directory {str(probe)!r} is not writable"
    return None


def output_file_problem(path, option):
    """A one-line reason why `path` cannot be written (atomically replaced) as a file, or None:
    it must not be a directory or a special file (a named pipe, a device), and its directory
    must be creatable and writable."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return f"{option} {path!r} is a directory; give a file path"
    if os.path.lexists(path) and os.path.exists(path) and not os.path.isfile(path):
        return f"{option} {path!r} exists and is not a regular file (a named pipe or a device?)"
    return output_dir_problem(os.path.dirname(os.path.abspath(path)), option)


def check_input_file(path, option):
    """Raise CLIError before any work if the file an option names cannot be read as a regular
    file: missing, a directory, a named pipe or device (refused without opening it), unreadable."""
    from network.io import file_problem

    problem = file_problem(path, option)
    if problem:
        raise CLIError(problem)


def check_output_dir(path, option):
    """Raise CLIError (before any work is done) if `path` cannot become a writable directory."""
    problem = output_dir_problem(path, option)
    if problem:
        raise CLIError(problem)


def positive_int(text):
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def load_mnist_model(path, need_hidden=False):
    """NeuralNetwork.load(path), checked to map 784 pixels to 10 digits (and to have a hidden
    layer if need_hidden). Raises network.io.ModelFileError with one line otherwise."""
    from network.io import ModelFileError
    from network.model import NeuralNetwork

    model = NeuralNetwork.load(path)
    sizes = list(model.layer_sizes)
    if sizes[0] != 784 or sizes[-1] != 10:
        raise ModelFileError(f"model file {str(path)!r} has layer sizes {sizes}; an MNIST model needs "
                             f"784 inputs and 10 outputs")
    if need_hidden and len(sizes) < 3:
        raise ModelFileError(f"model file {str(path)!r} has no hidden layer to analyse")
    return model


def oserror_message(e):
    """One line for an OSError that escaped a command (an unreadable path, a full disk)."""
    where = f" {e.filename!r}" if getattr(e, "filename", None) else ""
    return f"{e.strerror or e}{where}"


def run_cli(body, errors=(), oserror=oserror_message):
    """Call body() and return its exit status (an int it returns, else 0). CLIError gives its own code; the
    exception types in `errors` (a library's one-line errors, e.g. DataError) give exit 2; an
    OSError gives exit 2 with the line oserror(e). Each is one `error: ...` line on stderr."""
    try:
        status = body()
    except CLIError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code
    except errors as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except OSError as e:
        print(f"error: {oserror(e)}", file=sys.stderr)
        return EXIT_INPUT
    return status if isinstance(status, int) else 0
