"""A knowledge graph with provenance, entity linking, communities, and graph retrieval modes.

    graph = kg.KnowledgeGraph(triples)                         # networkx MultiDiGraph, every edge keeps its doc_id
    linker = kg.EntityLinker(graph, embedder)                  # exact, fuzzy (rapidfuzz) and embedding match
    seeds = linker.link("Who is the CEO of the parent company of Stiskis Partners?")
    ranking = kg.ppr_docs(graph, seeds, relation_weights)     # personalised PageRank, HippoRAG-style
    kg.local_docs(graph, seeds, hops=2)                        # the 1-2 hop neighbourhood's documents
    kg.answer_structured(graph, "How many agreements did Petra Fentek sign?")   # a graph query, no LLM

Nodes are entity names and values; an edge is one triple (`relation`, `doc_id`). Nodes that are the head
of some triple are *entities* (companies, people, agreements, cities); the others are *values* (dates,
amounts, countries, industries). Walks go through entities only: a value such as "3 years" or "Spain"
joins dozens of unrelated documents, which is noise for a multi-hop walk.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import networkx as nx
import numpy as np

from ..data import Triple
from ..evaluate import normalize_answer
from ..rag.advanced import find_entities

# Words that describe each relation of the course dataset, for matching a question's wording to relations
# (e.g. "parent company" -> subsidiary_of). Relations of other datasets use their own name, spaced out.
RELATION_TEXT = {
    "subsidiary_of": "parent company subsidiary owned by owns", "ceo_of": "CEO chief executive officer",
    "officer_of": "officer director counsel", "party_to": "party to the agreement between",
    "signatory_of": "signed the agreement signatory", "headquartered_in": "headquarters city headquartered based",
    "located_in": "country located", "amends": "current amended amendment changed",
    "acquired": "acquired acquisition bought the company", "announces": "announced news",
    "governed_by": "governing law laws of", "agreement_type": "type of agreement", "industry": "industry sector",
}


def relation_text(relation: str) -> str:
    return RELATION_TEXT.get(relation, relation.replace("_", " "))


_VALUE = re.compile(r"^(?:\d{4}-\d{2}-\d{2}|\d{4}|[\d.]+%|[A-Z]{3} [\d,]+|\d+ (?:day|month|year)s?|non-exclusive|"
                    r"no automatic renewal)$")


class KnowledgeGraph:
    """Triples as a networkx MultiDiGraph: node attribute `docs`, edge attributes `relation` and `doc_id`."""

    def __init__(self, triples: Iterable[Triple], name: str = "graph"):
        self.name = name
        self.triples = list(dict.fromkeys(triples))
        self.g = nx.MultiDiGraph()
        for t in self.triples:
            for node in (t.head, t.tail):
                if node not in self.g:
                    self.g.add_node(node, docs=set())
                self.g.nodes[node]["docs"].add(t.doc_id)
            self.g.add_edge(t.head, t.tail, relation=t.relation, doc_id=t.doc_id)
        heads = {t.head for t in self.triples}
        self.entities = {n for n in self.g if n in heads and not _VALUE.match(n)}
        self._walk: dict[bool, nx.Graph] = {}

    def __len__(self) -> int:
        return self.g.number_of_nodes()

    def summary(self) -> dict:
        return {"nodes": self.g.number_of_nodes(), "edges": self.g.number_of_edges(), "entities": len(self.entities),
                "relations": len({t.relation for t in self.triples}),
                "documents": len({t.doc_id for t in self.triples})}

    def docs_of(self, node: str) -> set[str]:
        return self.g.nodes[node]["docs"] if node in self.g else set()

    def walk_graph(self, values: bool = False) -> nx.Graph:
        """Undirected simple graph over entity nodes (with `values`, also over named values such as
        countries, industries and agreement types; never over dates, amounts or durations); an edge keeps
        its relations and documents."""
        if values not in self._walk:
            w = nx.Graph()
            keep = set(self.entities) if not values else {n for n in self.g if not _VALUE.match(n)}
            w.add_nodes_from(sorted(keep))  # sorted: a set's order changes between processes, and Louvain follows it
            for u, v, d in self.g.edges(data=True):
                if u in keep and v in keep and u != v:
                    if w.has_edge(u, v):
                        w[u][v]["relations"].add(d["relation"])
                        w[u][v]["docs"].add(d["doc_id"])
                    else:
                        w.add_edge(u, v, relations={d["relation"]}, docs={d["doc_id"]})
            self._walk[values] = w
        return self._walk[values]

    def edges_of(self, node: str) -> list[tuple[str, str, str, str]]:
        """(head, relation, tail, doc_id) of every edge touching a node."""
        out = [(u, d["relation"], v, d["doc_id"]) for u, v, d in self.g.out_edges(node, data=True)]
        out += [(u, d["relation"], v, d["doc_id"]) for u, v, d in self.g.in_edges(node, data=True)]
        return out

    def values(self, head: str, relation: str) -> list[tuple[str, str]]:
        """(tail, doc_id) of a head's edges with a relation."""
        return [(v, d["doc_id"]) for _, v, d in self.g.out_edges(head, data=True) if d["relation"] == relation] \
            if head in self.g else []

    def current_value(self, head: str, relation: str) -> str | None:
        """The value in force: one stated by a document that `amends` the head wins over the original."""
        values = self.values(head, relation)
        if not values:
            return None
        amending = {d["doc_id"] for _, _, d in self.g.in_edges(head, data=True) if d["relation"] == "amends"}
        amending |= {doc for u, _, d in self.g.in_edges(head, data=True) if d["relation"] == "amends"
                     for doc in self.docs_of(u)}
        for value, doc in values:
            if doc in amending:
                return value
        return values[0][0]

    def subjects(self, relation: str, tail: str) -> list[str]:
        """Heads with an edge `relation` to `tail`."""
        return list(dict.fromkeys(u for u, _, d in self.g.in_edges(tail, data=True) if d["relation"] == relation)) \
            if tail in self.g else []


# --------------------------------------------------------------------------- entity linking

@dataclass(frozen=True)
class Link:
    node: str
    method: str  # exact | fuzzy | embedding
    score: float
    span: str = ""


_SPAN = re.compile(r"\b[A-Z][\w\-]*(?:\s+(?:of|and|the|de)?\s*[A-Z][\w\-]*)*")


class EntityLinker:
    """Question -> graph nodes: exact names first, then fuzzy (rapidfuzz ratio over capitalised spans),
    then embedding similarity of a span to node names. Values that are only numbers are not linked."""

    def __init__(self, graph: KnowledgeGraph, embedder=None, *, fuzzy_cutoff: float = 88.0,
                 embed_cutoff: float = 0.8, methods: Sequence[str] = ("exact", "fuzzy", "embedding")):
        self.graph = graph
        self.names = [n for n in graph.g if len(n) >= 4 and re.search(r"[A-Za-z]{3}", n) and not _VALUE.match(n)]
        self.catalog = {n: graph.docs_of(n) for n in self.names}
        self.entity_names = [n for n in self.names if n in graph.entities]
        self.embedder, self.fuzzy_cutoff, self.embed_cutoff = embedder, fuzzy_cutoff, embed_cutoff
        self.methods = tuple(methods)
        self._vectors = None

    def _name_vectors(self):
        if self._vectors is None:
            from ..rag.retrieval import embed

            self._vectors = embed(self.embedder, self.entity_names) if self.entity_names else np.zeros((0, 1))
        return self._vectors

    def _exact_fuzzy(self, question: str) -> tuple[list[Link], list[str]]:
        """Exact and fuzzy links, and the capitalised spans still unlinked (for embedding match)."""
        lowered = question.lower()
        candidates = {n: d for n, d in self.catalog.items() if n.lower() in lowered}  # cheap pre-filter
        links = [Link(n, "exact", 1.0, n) for n in find_entities(question, candidates)] \
            if "exact" in self.methods else []
        covered = " ".join(l.node.lower() for l in links)
        spans = [s.strip() for s in _SPAN.findall(question)]
        spans = [s for s in spans if len(s) >= 5 and s.lower() not in covered and s.split()[0] not in _QUESTION_WORDS]
        todo = []
        for span in spans:
            best = None
            if "fuzzy" in self.methods and self.entity_names:
                from rapidfuzz import fuzz, process

                best = process.extractOne(span, self.entity_names, scorer=fuzz.ratio, score_cutoff=self.fuzzy_cutoff)
            if best:
                links.append(Link(best[0], "fuzzy", round(best[1] / 100, 3), span))
            else:
                todo.append(span)
        return links, todo

    def link_many(self, questions: Sequence[str]) -> list[list[Link]]:
        """Links of each question (one embedding call for all the spans left to the embedding match)."""
        done = [self._exact_fuzzy(q) for q in questions]
        spans = [s for _, todo in done for s in todo]
        best: dict[str, Link] = {}
        if spans and "embedding" in self.methods and self.embedder is not None and self.entity_names:
            from ..rag.retrieval import embed

            unique = list(dict.fromkeys(spans))
            sims = embed(self.embedder, unique) @ self._name_vectors().T
            for span, row in zip(unique, sims):
                j = int(np.argmax(row))
                if row[j] >= self.embed_cutoff:
                    best[span] = Link(self.entity_names[j], "embedding", round(float(row[j]), 3), span)
        out = []
        for links, todo in done:
            links = links + [best[s] for s in todo if s in best]
            out.append(list({l.node: l for l in links}.values()))
        return out

    def link(self, question: str) -> list[Link]:
        return self.link_many([question])[0]


_QUESTION_WORDS = {"Who", "What", "Which", "How", "In", "When", "Where", "The", "Is", "Does", "Did"}


# --------------------------------------------------------------------------- communities

@dataclass
class Community:
    cid: int
    nodes: list[str]  # most central first
    docs: list[str]
    summary: str
    value_counts: dict = field(default_factory=dict)  # relation -> Counter of values


def detect_communities(graph: KnowledgeGraph, *, seed: int = 0, method: str = "louvain",
                       resolution: float = 1.0) -> tuple[list[set[str]], str]:
    """Communities of the entity graph: Leiden (igraph + leidenalg) when asked and installed, else Louvain
    (networkx). Returns (communities, the method that ran)."""
    walk = graph.walk_graph()
    if method == "leiden":
        try:
            import igraph as ig
            import leidenalg

            h = ig.Graph.from_networkx(walk)
            part = leidenalg.find_partition(h, leidenalg.ModularityVertexPartition, seed=seed)
            names = h.vs["_nx_name"]
            return [set(names[i] for i in c) for c in part], "leiden"
        except ImportError:
            pass
    parts = nx.community.louvain_communities(walk, seed=seed, resolution=resolution)
    return sorted((set(p) for p in parts), key=lambda p: (-len(p), min(p))), "louvain"


def _fact(head: str, relation: str, tail: str) -> str:
    return f"{head} {relation.replace('_', ' ')} {tail}."


def summarize_communities(graph: KnowledgeGraph, parts: Sequence[set[str]], *, max_entities: int = 8,
                          max_facts: int = 8, max_values: int = 3) -> list[Community]:
    """Extractive community summaries (no LLM): the most central entities, the most common value of each
    relation among the community's edges (e.g. 'governed by: Spain (5), Japan (3)'), and a few facts."""
    walk = graph.walk_graph()
    out = []
    for cid, members in enumerate(parts):
        sub = walk.subgraph(members)
        central = sorted(members, key=lambda n: (-sub.degree(n), n))
        edges = [(u, d["relation"], v, d["doc_id"]) for u in sorted(members)
                 for _, v, d in graph.g.out_edges(u, data=True)]  # sorted: ties in the counts below keep one order
        docs = Counter(doc for *_, doc in edges)
        values: dict[str, Counter] = defaultdict(Counter)
        for u, rel, v, _ in edges:
            if v not in graph.entities:
                values[rel][v] += 1
        lines = [f"Entities: {', '.join(central[:max_entities])}" + (f" and {len(central) - max_entities} more"
                                                                     if len(central) > max_entities else "") + "."]
        for rel, counts in sorted(values.items(), key=lambda kv: -sum(kv[1].values())):
            top = ", ".join(f"{v} ({c})" for v, c in counts.most_common(max_values))
            lines.append(f"{rel.replace('_', ' ')}: {top}.")
        rank = {n: i for i, n in enumerate(central)}
        facts = sorted(((u, r, v) for u, r, v, _ in edges if v in graph.entities),
                       key=lambda e: rank.get(e[0], 1e9) + rank.get(e[2], 1e9))[:max_facts]
        lines += [_fact(*f) for f in facts]
        out.append(Community(cid, central, [d for d, _ in docs.most_common()], "\n".join(lines), dict(values)))
    return out


# --------------------------------------------------------------------------- retrieval over the graph

def relation_weights(question_vectors: np.ndarray, relation_vectors: dict[str, np.ndarray], *,
                     strength: float = 4.0) -> list[dict[str, float]]:
    """Per question, a weight per relation: exp(strength * cosine(question, relation description)),
    normalised so the best relation weighs 1. A walk then prefers edges the question talks about."""
    rels = list(relation_vectors)
    if not rels:
        return [{} for _ in question_vectors]
    matrix = np.stack([relation_vectors[r] for r in rels])
    out = []
    for sims in question_vectors @ matrix.T:
        w = np.exp(strength * (sims - sims.max()))
        out.append({r: float(x) for r, x in zip(rels, w)})
    return out


def bridge_nodes(walk: nx.Graph, seeds: Sequence[str], seed_weights: dict[str, float]) -> dict[str, float]:
    """Nodes adjacent to two or more of the question's seeds, weighted by the sum of those seeds' weights.

    "The Supply Agreement in which Vrolvion Works is the Buyer" names two seeds (the agreement type and the
    company); the agreement meant is the node joined to both. Restarting the walk there too lets the next
    hop (the other party, its CEO) rank as high as the seeds' own neighbours.
    """
    if len(seeds) < 2:
        return {}
    touching: dict[str, set[str]] = defaultdict(set)
    for s in seeds:
        for nb in walk.neighbors(s):
            if nb not in seeds:
                touching[nb].add(s)
    return {n: sum(seed_weights[s] for s in by) for n, by in touching.items() if len(by) >= 2}


def ppr_scores(graph: KnowledgeGraph, seeds: Sequence[str], weights: dict[str, float] | None = None, *,
               damping: float = 0.5, values: bool = True) -> dict[str, float]:
    """Personalised PageRank over the entity graph, restarting at the seeds (HippoRAG: damping 0.5).

    Seeds are weighted by specificity (1 / number of documents naming them, HippoRAG's node specificity);
    an edge weighs the largest weight of its relations (`weights`, 1 when not given). The walk goes through
    entities and named values (a question's "Non-Disclosure Agreement" or "Spain" is a useful seed), never
    through dates, amounts or durations.
    """
    walk = graph.walk_graph(values)
    seeds = [s for s in dict.fromkeys(seeds) if s in walk]
    if not seeds:
        return {}
    for u, v, d in walk.edges(data=True):
        d["w"] = max((weights or {}).get(r, 1.0) for r in d["relations"]) if weights else 1.0
    personalization = {s: 1.0 / max(1, len(graph.docs_of(s))) for s in seeds}
    for node, weight in bridge_nodes(walk, seeds, personalization).items():
        personalization[node] = max(personalization.get(node, 0.0), weight)
    comp = set().union(*(nx.node_connected_component(walk, s) for s in seeds))
    sub = walk.subgraph(comp)
    return nx.pagerank(sub, alpha=damping, personalization=personalization, weight="w", tol=1e-8, max_iter=200)


def docs_from_node_scores(graph: KnowledgeGraph, scores: dict[str, float],
                          weights: dict[str, float] | None = None) -> list[tuple[str, float]]:
    """Documents ranked by the facts they state about highly ranked nodes: every edge (u, relation, v) adds
    (score(u) + score(v)) * weight(relation) to the document stating it.

    With question-dependent relation weights, the document that states the *asked-for* fact about a
    ranked entity (its CEO, its current governing law) beats one that merely mentions it."""
    doc_score: dict[str, float] = defaultdict(float)
    ranked = [n for n, s in scores.items() if s > 0]
    seen: set[tuple] = set()
    for node in ranked:
        for u, rel, v, doc in graph.edges_of(node):
            if (u, rel, v, doc) in seen:
                continue
            seen.add((u, rel, v, doc))
            w = (weights or {}).get(rel, 1.0) if weights else 1.0
            doc_score[doc] += (scores.get(u, 0.0) + scores.get(v, 0.0)) * w
    return sorted(doc_score.items(), key=lambda kv: (-kv[1], kv[0]))


def ppr_docs(graph: KnowledgeGraph, seeds: Sequence[str], weights: dict[str, float] | None = None, *,
             damping: float = 0.5, k: int = 10, values: bool = True) -> list[str]:
    """HippoRAG-style retrieval: personalised PageRank from the question's entities, then documents by
    the question-weighted facts they state about the ranked nodes (`docs_from_node_scores`)."""
    scores = ppr_scores(graph, seeds, weights, damping=damping, values=values)
    return [d for d, _ in docs_from_node_scores(graph, scores, weights)[:k]]


def neighbourhood(graph: KnowledgeGraph, seeds: Sequence[str], hops: int = 2) -> dict[str, int]:
    """Node -> distance from the nearest seed, up to `hops`, in the undirected full graph (values included)."""
    und = graph.g.to_undirected(as_view=True)
    dist: dict[str, int] = {}
    frontier = [s for s in seeds if s in graph.g]
    for s in frontier:
        dist[s] = 0
    for h in range(1, hops + 1):
        nxt = []
        for node in frontier:
            if node not in graph.entities and h > 1:
                continue  # do not walk on through a value (a date, a country) beyond the first hop
            for nb in und.neighbors(node):
                if nb not in dist:
                    dist[nb] = h
                    nxt.append(nb)
        frontier = nxt
    return dist


def local_docs(graph: KnowledgeGraph, seeds: Sequence[str], hops: int = 2, *, k: int | None = 10,
               tie_break: Callable[[list[str]], list[str]] | None = None) -> list[str]:
    """LightRAG-style local search: documents stating edges between nodes of the seeds' 1..hops
    neighbourhood, nearest first (an edge at hop h touches a node at distance h - 1), then by how many such
    edges they state, weighted 1 / hop."""
    dist = neighbourhood(graph, seeds, hops - 1) if hops > 1 else {s: 0 for s in seeds if s in graph.g}
    score: dict[str, float] = defaultdict(float)
    best_hop: dict[str, int] = {}
    for node, dn in dist.items():
        for _, _, _, doc in graph.edges_of(node):
            score[doc] += 1.0 / (dn + 1)
            best_hop[doc] = min(best_hop.get(doc, 99), dn + 1)
    order = sorted(score, key=lambda d: (best_hop[d], -score[d], d))
    if tie_break is not None:
        order = tie_break(order)
    return order if k is None else order[:k]


def reachable_docs(graph: KnowledgeGraph, seeds: Sequence[str], hops: int = 2) -> set[str]:
    """Every document stating an edge within `hops` of the seeds, through entities (no cut-off)."""
    return set(local_docs(graph, seeds, hops, k=None))


# --------------------------------------------------------------------------- structured queries

def _join(names: Sequence[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _strip_the(text: str) -> str:
    return text[4:] if text.lower().startswith("the ") else text


def _find_node(graph: KnowledgeGraph, name: str) -> str | None:
    if name in graph.g:
        return name
    norm = normalize_answer(name)
    for node in graph.g:
        if normalize_answer(node) == norm:
            return node
    return None


def _agreements_of(graph: KnowledgeGraph, party: str) -> list[str]:
    return [v for v, _ in graph.values(party, "party_to")]


def _q_party_count(graph, m):
    node = _find_node(graph, m["x"])
    return None if node is None else str(len(set(_agreements_of(graph, node))))


def _q_pair_count(graph, m):
    a, b = _find_node(graph, m["x"]), _find_node(graph, m["y"])
    if a is None or b is None:
        return None
    return str(len(set(_agreements_of(graph, a)) & set(_agreements_of(graph, b))))


def _q_type_law(graph, m):
    kind = m["type"].strip()
    country = _strip_the(m["country"])
    agreements = [a for a in graph.subjects("agreement_type", kind)]
    if not agreements and kind.endswith("s"):
        agreements = graph.subjects("agreement_type", kind[:-1])
    laws = [graph.current_value(a, "governed_by") for a in agreements]
    return str(sum(1 for law in laws if law and normalize_answer(_strip_the(law)) == normalize_answer(country)))


def _q_subsidiary_count(graph, m):
    node = _find_node(graph, m["x"])
    return None if node is None else str(len(graph.subjects("subsidiary_of", node)))


def _q_subsidiary_list(graph, m):
    node = _find_node(graph, m["x"])
    kids = sorted(graph.subjects("subsidiary_of", node)) if node else []
    return _join(kids) if kids else None


def _q_country_count(graph, m):
    country = _find_node(graph, _strip_the(m["country"]))
    if country is None:
        return None
    cities = graph.subjects("located_in", country)
    return str(len({c for city in cities for c in graph.subjects("headquartered_in", city)}))


def _q_signed_count(graph, m):
    node = _find_node(graph, m["x"])
    return None if node is None else str(len({v for v, _ in graph.values(node, "signatory_of")}))


_N = r"(?P<x>[A-Z][\w\-]*(?: [A-Z][\w\-]*)*)"
QUERY_TEMPLATES: list[tuple[str, re.Pattern, Callable]] = [
    ("count_party", re.compile(rf"^How many agreements is {_N} a party to\?$"), _q_party_count),
    ("count_pair", re.compile(rf"^How many agreements have {_N} and (?P<y>[A-Z][\w\-]*(?: [A-Z][\w\-]*)*) signed with "
                              rf"each other\?$"), _q_pair_count),
    ("count_type_law", re.compile(r"^How many (?P<type>[\w\- ]+?) are governed by the laws of (?P<country>[\w ]+)\?$"),
     _q_type_law),
    ("count_subsidiaries", re.compile(rf"^How many direct subsidiaries does {_N} have\?$"), _q_subsidiary_count),
    ("list_subsidiaries", re.compile(rf"^Which companies are direct subsidiaries of {_N}\?$"), _q_subsidiary_list),
    ("count_country", re.compile(r"^How many companies are headquartered in (?P<country>[\w ]+)\?$"), _q_country_count),
    ("count_signed", re.compile(rf"^How many agreements did {_N} sign\?$"), _q_signed_count),
]


def answer_structured(graph: KnowledgeGraph, question: str) -> tuple[str | None, str | None]:
    """(answer, template name) for a counting or listing question the templates parse, else (None, None).

    Each template is a small graph query (edges in, edges out, set intersections), like a Cypher MATCH ...
    RETURN count(*): the count comes from the whole graph, not from a handful of retrieved passages.
    """
    for name, pattern, fn in QUERY_TEMPLATES:
        m = pattern.match(question.strip())
        if m:
            return fn(graph, m.groupdict()), name
    return None, None
