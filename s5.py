from typing import Any


class Repo:
    def __init__(self, db: Any):
        self.db = db

    async def get(self, id):
        return await self.db.execute("select 1")
