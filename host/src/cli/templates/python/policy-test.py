import unittest

import test_prelude  # noqa: F401  (src/ and the generated bindings on sys.path)

from logic import DEFAULT_SCOPE, decide
from wit_world.exports.access_policy import Decision_Allow, Decision_AllowWith, Decision_Deny


class DecideTest(unittest.TestCase):
    def test_reads_are_open(self):
        for action in ("read", "list", "render"):
            self.assertIsInstance(decide(action, None), Decision_Allow)

    def test_writes_need_the_scope(self):
        anonymous = decide("create", None)
        self.assertIsInstance(anonymous, Decision_Deny)
        self.assertEqual(anonymous.value.status, 401)
        refused = decide("update", ["other"])
        self.assertEqual(refused.value.status, 403)
        self.assertEqual(refused.value.required_scopes, [DEFAULT_SCOPE])
        allowed = decide("delete", [DEFAULT_SCOPE])
        self.assertIsInstance(allowed, Decision_AllowWith)
        self.assertEqual([(h.name, h.value) for h in allowed.value], [("x-policy", "@NAME@")])
        self.assertIsInstance(decide("admin", [DEFAULT_SCOPE]), Decision_Deny)


if __name__ == "__main__":
    unittest.main()
