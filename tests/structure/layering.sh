#!/bin/sh
# The layering of src/ (README.md, "Layout"): no file writes another file's
# struct fields, calls go down or through an orchestration point, headers
# include only lower layers.  Checked on clang's syntax tree by layering.py;
# `tests/structure/layering.sh --graph` prints the call graph between files.
src=${SBMALLOC_SRCDIR:-.}
exec python3 "$src/tests/structure/layering.py" "$@" "$src/src" \
	-I"$src/src" -I"${SBMALLOC_BUILDDIR:-.}/include" -I"$src/include" -I"${SBMALLOC_BUILDDIR:-.}" \
	-std=gnu11
