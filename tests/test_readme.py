"""README.md's Python quick start runs as written (a doctest), so it cannot drift from the code."""

import doctest
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def quick_start():
    """The ```python block of the section "## Python quick start"."""
    section = README.read_text().split("## Python quick start", 1)[1].split("\n## ", 1)[0]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_readme_quick_start_runs_as_written():
    test = doctest.DocTestParser().get_doctest(quick_start(), {}, "README quick start", str(README), 0)
    assert len(test.examples) >= 15
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    result = runner.run(test, out=lambda text: print(text, end=""))
    assert result.failed == 0, f"{result.failed} of {result.attempted} quick-start examples failed (output above)"
