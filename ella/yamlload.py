"""A YAML SafeLoader that refuses a key written twice in one mapping, and an integer too long
for JSON.

YAML keeps a repeated key's later value without a word: a pasted line under the real one,
or a second section that drops the first. Both the application config and the annotation
config are read with it."""
import sys

import yaml

# The digits Python writes an int in at most (its int_max_str_digits, 4,300): a longer one
# cannot be written as JSON (config/ answers, stored documents). Decimal text over it fails
# in int() already; hexadecimal, octal, binary and sexagesimal ones were built whatever
# their size, and their first json.dumps was a traceback.
MAX_INT_DIGITS = sys.get_int_max_str_digits() or 4300
_INT_LIMIT = 10 ** MAX_INT_DIGITS

MERGE_TAG = "tag:yaml.org,2002:merge"


class RepeatedKeyLoader(yaml.SafeLoader):
    def construct_document(self, node):
        # Each mapping's keys as written, before any is built: building one that merges
        # (`<<`) another rewrites the merged mapping's node in place, and PyYAML builds outer
        # mappings first, so a nested mapping's own override of a merged key would look like
        # a key written twice.
        self._written = {}
        pending, seen = [node], set()
        while pending:
            current = pending.pop()
            if id(current) in seen:
                continue
            seen.add(id(current))
            if isinstance(current, yaml.MappingNode):
                self._written[id(current)] = [key for key, _ in current.value
                                              if key.tag != MERGE_TAG]
                pending.extend(part for pair in current.value for part in pair)
            elif isinstance(current, yaml.SequenceNode):
                pending.extend(current.value)
        return super().construct_document(node)

    def construct_mapping(self, node, deep=False):
        written = getattr(self, "_written", {}).get(id(node))
        if written is None:
            written = [key_node for key_node, _ in node.value if key_node.tag != MERGE_TAG]
        self.flatten_mapping(node)  # `<<` merge keys first, as the SafeLoader does
        self.check_keys(node, deep)
        # A key written over a `<<` merge is YAML's way to override one: fine.
        first_seen = {}
        for key_node in written:
            key = self.construct_object(key_node, deep=deep)
            try:
                earlier = first_seen.get(key)
            except TypeError:  # a key YAML reads as a list or mapping: SafeLoader's error
                break
            if earlier is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice in this mapping (first on "
                    f"line {earlier.line + 1}); the later would silently replace the "
                    "earlier: keep one", key_node.start_mark)
            first_seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)

    def check_keys(self, node, deep):
        """Further checks of a mapping's keys (after merging) by a subclass."""

    def construct_yaml_int(self, node):
        try:
            value = super().construct_yaml_int(node)
        except ValueError:  # Python's own limit of decimal digits, its advice of no use here
            value = _INT_LIMIT
        if abs(value) >= _INT_LIMIT:
            raise yaml.constructor.ConstructorError(
                None, None, f"an integer of over {MAX_INT_DIGITS:,} digits cannot be read",
                node.start_mark)
        return value


RepeatedKeyLoader.add_constructor("tag:yaml.org,2002:int", RepeatedKeyLoader.construct_yaml_int)
