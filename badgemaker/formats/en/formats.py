"""Badge Maker's date formats for English (en and en-gb; the rest is
Django's): times to the second, so that staff can tell the order of sync
attempts made in the same minute, and with the zone (GMT or BST in London),
so that nobody mistakes them for the sandbox's America/Chicago or a log's
UTC. Django reads these only because settings.FORMAT_MODULE_PATH names this
package: its own `en` formats win over DATETIME_FORMAT in settings."""
DATETIME_FORMAT = "j M Y, H:i:s T"  # 25 Oct 2006, 14:30:59 BST
SHORT_DATETIME_FORMAT = "d/m/Y H:i:s"  # 25/10/2006 14:30:59
TIME_FORMAT = "H:i:s"  # 14:30:59
