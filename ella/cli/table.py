"""Plain-text tables for command-line output."""


def format_table(headers, rows):
    """Left-aligned columns separated by two spaces; a dashed line under the headers."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in row]
                                           for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip()
             for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines
