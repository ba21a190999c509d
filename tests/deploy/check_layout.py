#!/usr/bin/python3
"""Fails when an #include breaks the module layout's one-way rules (README "Architecture"; CMake states the same
graph in each folder's target_link_libraries):

  server -> storage, model, cluster; eval -> model; bench -> any; util/ -> nothing of this project.
  storage, model and cluster never include each other; neither includes server/, eval/, bench/ or the generated proto
  and gRPC headers; torch (torch/, ATen/, c10/) only in model/ and the model tests;
  the NATS client (nats/) only in cluster/ and its tests.
  Outside a module and its own tests, only its public headers are included.

Usage: check_layout.py <repository root>. Prints every violation as file:line: reason and exits 1 if any.
"""
import pathlib
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]')
PROTO = re.compile(r'^(gpt4rec/v1/|grpc/health/|grpcpp/|grpc\+\+/|google/protobuf/)|\.pb\.h$')
TORCH = re.compile(r'^(torch/|ATen/|c10/)')
NATS = re.compile(r'^nats/')
PROJECT = ('util', 'proto', 'storage', 'model', 'cluster', 'eval', 'server', 'bench', 'tests')

# Project folders each module may include (besides itself and util/).
ALLOWED = {
    'util': set(),
    'storage': set(),
    'model': set(),
    'cluster': set(),
    'eval': {'model'},
    'server': {'storage', 'model', 'cluster'},
    'bench': {'storage', 'model', 'cluster', 'eval', 'server', 'bench'},
}
# Headers of a module that code outside it (and outside its own tests) may include.
PUBLIC = {
    'storage': {'storage/graph_store.h', 'storage/event_validation.h', 'storage/bench_support.h'},
    'server': {'server/service.h', 'server/test_support.h'},
    'cluster': {'cluster/event_log.h', 'cluster/model_channel.h'},
    'model': {'model/recommender_model.h', 'model/test_support.h', 'model/config_flags.h', 'model/config_json.h'},
}
NO_PROTO = {'util', 'storage', 'model', 'cluster', 'eval'}


def module_of(rel):
    top = rel.parts[0]
    if top == 'tests' and len(rel.parts) > 2:
        return 'tests', rel.parts[1]
    return top, None


def check(root):
    errors = []
    for path in sorted(root.rglob('*')):
        if path.suffix not in ('.h', '.cc', '.hpp', '.cpp') or not path.is_file():
            continue
        rel = path.relative_to(root)
        if rel.parts[0] not in PROJECT:
            continue  # build trees, shared/, ...
        module, tested = module_of(rel)
        for number, line in enumerate(path.read_text(errors='replace').splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            inc = m.group(1)
            where = f'{rel}:{number}: {inc}'
            target = inc.split('/')[0] if '/' in inc else None
            if TORCH.match(inc) and module != 'model' and tested != 'model':
                errors.append(f'{where}: torch outside model/')
            if NATS.match(inc) and module != 'cluster' and tested != 'cluster':
                errors.append(f'{where}: the NATS client outside cluster/')
            if PROTO.search(inc) and (module in NO_PROTO or tested in NO_PROTO):
                errors.append(f'{where}: proto/gRPC types in {module if module != "tests" else "tests/" + tested}/')
            if target not in PROJECT or target == 'util':
                continue
            if module in ALLOWED and target != module and target not in ALLOWED[module]:
                errors.append(f'{where}: {module}/ must not include {target}/')
            if module == 'util' and target != 'util':
                errors.append(f'{where}: util/ includes nothing of this project')
            owner = tested if module == 'tests' else module
            if target in PUBLIC and owner != target and inc not in PUBLIC[target]:
                errors.append(f'{where}: private header of {target}/ (public: {", ".join(sorted(PUBLIC[target]))})')
    return errors


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else '.').resolve()
    errors = check(root)
    for e in errors:
        print(e)
    if errors:
        print(f'check_layout: {len(errors)} include(s) break the layout')
        return 1
    print('check_layout: every include follows the layout')
    return 0


if __name__ == '__main__':
    sys.exit(main())
