"""Frames read in place from the zip archives corpora ship them in (BP4D+ and some BP4D copies:
`<frames folder>/<Subject>.zip` holding `<Subject>/<Task>/<frame>.jpg`).

Nothing is extracted: members are read one at a time into memory. Every member name is still
checked as an extraction would need it to be: a name that is absolute, climbs out with `..`, or
lies outside the archive's own `<Subject>/` folder is refused with an error naming the archive and
the member ("zip slip"), since a corpus copy that holds such a member is not the corpus.
"""

import posixpath
import zipfile

from etils import epath


class ArchiveError(ValueError):
  """An archive that cannot be read as the corpus ships it; the message names it (and the member)."""


def check_member(archive, name: str, folder: str) -> str:
  """The member's normalised path inside `folder/`, or ArchiveError if it would land elsewhere."""
  if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or "\\" in name:
    raise ArchiveError(f"{archive}: member {name!r} has an absolute or Windows path; refused "
                       f"(it would be written outside {folder}/)")
  normal = posixpath.normpath(name)
  if normal == ".." or normal.startswith("../") or not (normal == folder
                                                        or normal.startswith(folder + "/")):
    raise ArchiveError(f"{archive}: member {name!r} lies outside {folder}/ (as {normal!r}); "
                       f"refused")
  return normal


class SubjectZip:
  """A subject's frames in `<Subject>.zip`: {task: {frame number: member name}}."""

  def __init__(self, path, subject: str, image_extensions=(".jpg", ".jpeg", ".png")):
    self.path, self.subject = epath.Path(path), subject
    try:
      with self.path.open("rb") as f, zipfile.ZipFile(f) as zf:
        names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as e:
      raise ArchiveError(f"{self.path}: not a readable zip archive ({e})") from e
    self.tasks = {}
    for name in names:
      normal = check_member(self.path, name, subject)
      parts = normal.split("/")
      if name.endswith("/") or len(parts) != 3:
        continue
      _, task, filename = parts
      stem, ext = posixpath.splitext(filename)
      if ext.lower() in image_extensions and stem.isdigit():
        self.tasks.setdefault(task, {})[int(stem)] = name

  def read(self, members: list):
    """Yields the bytes of members, in order, from one open archive."""
    with self.path.open("rb") as f, zipfile.ZipFile(f) as zf:
      for name in members:
        yield zf.read(name)
