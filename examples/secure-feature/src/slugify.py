"""Turn an untrusted, user-supplied title into a safe file name."""
import re
import unicodedata

MAX_TITLE_CHARS = 1024  # longer input is rejected (oversized_input)
MAX_SLUG_CHARS = 64
# Device names Windows refuses as file names, whatever the extension (reserved_names).
RESERVED = {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(1, 10)} | {f"lpt{i}" for i in range(1, 10)}
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")  # one character class, linear time


def slugify(title: str) -> str:
    """Return a lower-case ASCII slug: letters, digits and single dashes, never empty."""
    if not isinstance(title, str):
        raise TypeError("title must be a string")
    if len(title) > MAX_TITLE_CHARS:
        raise ValueError(f"title longer than {MAX_TITLE_CHARS} characters")
    # Fold compatibility characters (fullwidth letters, ligatures) and strip accents.
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    # Everything that is not a letter or digit, including '/', '.', '\\' and control
    # characters, becomes a single dash.
    slug = _NOT_ALNUM.sub("-", text.lower()).strip("-")
    slug = slug[:MAX_SLUG_CHARS].rstrip("-")
    if not slug:
        return "untitled"
    if slug in RESERVED:
        return slug + "-doc"
    return slug
