import json
import unittest

import test_prelude  # noqa: F401  (src/ and the generated bindings on sys.path)

import logic
from componentize_py_types import Err
from wit_world.imports import kv as wit_kv


class MemKv:
    """In memory, with the host's version rules and the kv module's types."""

    Precondition_None_ = wit_kv.Precondition_None_
    Precondition_Absent = wit_kv.Precondition_Absent
    Precondition_Version = wit_kv.Precondition_Version

    def __init__(self):
        self.map = {}

    def get(self, ns, key):
        if key not in self.map:
            return None
        value, version = self.map[key]
        return wit_kv.Entry(key, value, version)

    def put(self, ns, key, value, pre):
        cur = self.map.get(key, (None, None))[1]
        ok = (
            isinstance(pre, wit_kv.Precondition_None_)
            or (isinstance(pre, wit_kv.Precondition_Absent) and cur is None)
            or (isinstance(pre, wit_kv.Precondition_Version) and cur == pre.value)
        )
        if not ok:
            raise Err(wit_kv.KvError_Conflict(key))
        self.map[key] = (value, (cur or 0) + 1)
        return (cur or 0) + 1

    def delete(self, ns, key, pre):
        return self.map.pop(key, None) is not None

    def query(self, ns, prefix, cursor, limit):
        keys = sorted(k for k in self.map if k.startswith(prefix))[:limit]
        return wit_kv.Page([self.get(ns, k) for k in keys], None)


class HandlerTest(unittest.TestCase):
    def test_create_get_update_delete(self):
        kv = MemKv()
        doc = json.loads(logic.create(kv, "p", '{"id": "hi", "content": "Hi {{who}}"}'))
        self.assertEqual((doc["version"], doc["name"]), (1, "hi"))
        with self.assertRaises(logic.Failure) as c:
            logic.create(kv, "p", '{"id": "hi", "content": "x"}')
        self.assertEqual(c.exception.kind, "conflict")
        with self.assertRaises(logic.Failure) as c:
            logic.create(kv, "p", '{"id": "Hi!"}')
        self.assertEqual((c.exception.kind, c.exception.field), ("invalid", "id"))
        updated = json.loads(logic.update(kv, "p", "hi", '{"id": "hi", "content": "Hello"}', 1))
        self.assertEqual(updated["version"], 2)
        with self.assertRaises(logic.Failure) as c:
            logic.update(kv, "p", "hi", '{"id": "hi", "content": "x"}', 1)
        self.assertEqual(c.exception.kind, "precondition-failed")
        self.assertEqual(json.loads(logic.update(kv, "p", "hi", '{"id": "hi", "content": "Hey"}'))["version"], 3)
        self.assertIn("Hey", logic.get(kv, "p", "hi"))
        docs, _ = logic.list_page(kv, "p", None, 20)
        self.assertEqual(len(json.loads(docs)), 1)
        logic.delete(kv, "p", "hi")
        with self.assertRaises(logic.Failure):
            logic.delete(kv, "p", "hi")


if __name__ == "__main__":
    unittest.main()
