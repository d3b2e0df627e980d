#!/usr/bin/env python3
"""Print a large C file: N functions with loops and switches, and a main
that calls them all and prints a checksum.  Used to time gcc under each
allocator."""
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
print('#include <stdio.h>')
for i in range(n):
    print(f'int f{i}(int x) {{ int s = 0; for (int j = 0; j < x; j++) '
          f's += j * {i} ^ (s >> 3); switch (x) {{ case 1: return s + {i}; '
          f'case 2: return s - {i}; default: return s; }} }}')
print('int main(void) {\n  long t = 0;')
for i in range(n):
    print(f'  t += f{i}({i % 7});')
print('  printf("%ld\\n", t);\n  return 0;\n}')
