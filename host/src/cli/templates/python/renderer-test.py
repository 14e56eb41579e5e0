import unittest

import test_prelude  # noqa: F401  (src/ on sys.path)

from logic import Failure, render


class RenderTest(unittest.TestCase):
    def test_substitutes_variables(self):
        vars = '{"who": "Ada", "n": 3, "user": {"city": "Lyon"}}'
        self.assertEqual(
            render("Hi {{ who }} ({{n}}) from {{user.city}}{{nope}}!", vars),
            "Hi Ada (3) from Lyon!",
        )

    def test_errors(self):
        with self.assertRaises(Failure) as c:
            render("{{a}}", "{}", ["a"])
        self.assertEqual((c.exception.kind, c.exception.value), ("missing-variables", ["a"]))
        with self.assertRaises(Failure) as c:
            render("x\n  {{a", "{}")
        self.assertEqual(c.exception.value, ("unclosed {{", 2, 3))
        with self.assertRaises(Failure) as c:
            render("", "[")
        self.assertEqual(c.exception.kind, "failed")


if __name__ == "__main__":
    unittest.main()
