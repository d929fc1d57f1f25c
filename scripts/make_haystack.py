"""Write `evalseed/data/haystack.txt`: long, plain, invented prose for needle-in-a-haystack suites.

The text is ours (generated here from a fixed seed, so it is reproducible and free of anyone's
copyright) and reads like an old regional almanac: places, weather, trades, customs. It mentions
no codes, passwords, keys or secrets, so a needle about one stands out only by its content, never
because the haystack already holds a similar fact.

    /work/venv/bin/python scripts/make_haystack.py [--kb 300]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

SEED = 20261126
OUT = Path(__file__).resolve().parent.parent / "evalseed" / "data" / "haystack.txt"

ONSETS = ["b", "br", "c", "d", "dr", "f", "g", "gl", "h", "k", "l", "m", "n", "p", "r", "s", "st", "t", "th", "v", "w"]
VOWELS = ["a", "e", "i", "o", "u", "ae", "ea", "ou", "y"]
CODAS = ["", "n", "r", "l", "m", "th", "ck", "st", "nd", "rn", "ll", "ss"]
PLACE_SUFFIXES = ["ford", "by", "wick", "mere", "dale", "stow", "holm", "ham", "ness", "combe", "thorpe", "wold"]

FEATURES = ["river", "marsh", "hill", "valley", "moor", "wood", "bay", "ridge", "spring", "fen", "heath", "estuary"]
TRADES = ["weavers", "coopers", "millers", "tanners", "chandlers", "boatwrights", "potters", "thatchers",
          "smiths", "ropemakers", "salters", "glaziers", "dyers", "masons", "carters", "fishers"]
GOODS = ["wool", "barley", "salt", "flax", "cider", "slate", "timber", "honey", "eels", "cheese", "lime",
         "hides", "reeds", "oats", "pewter", "herring", "tallow", "peat"]
PLANTS = ["alder", "hawthorn", "sedge", "bracken", "willow", "heather", "meadowsweet", "yarrow", "hazel",
          "blackthorn", "rushes", "elder", "gorse", "sorrel", "rowan", "oak"]
BIRDS = ["curlew", "heron", "lapwing", "rook", "swift", "wren", "plover", "redshank", "owl", "jackdaw",
         "snipe", "linnet", "starling", "tern"]
BEASTS = ["hares", "otters", "badgers", "red deer", "stoats", "voles", "foxes", "hedgehogs", "polecats"]
SEASONS = ["early spring", "late spring", "midsummer", "the harvest weeks", "autumn", "the first frosts",
           "deep winter", "the thaw"]
WEATHER = ["a cold wind from the north", "long soft rain", "dense morning fog", "sudden hail",
           "a dry easterly", "warm still air", "thunder in the afternoons", "a hard frost at night",
           "sea mist rolling inland", "bright, cloudless days"]
BUILDINGS = ["a stone bridge of five arches", "a tithe barn", "a round church tower", "a market cross",
             "a row of almshouses", "a watermill", "a timber-framed guildhall", "a ruined priory",
             "a lime kiln", "a ferry house", "a walled orchard", "a tide mill"]
MATERIALS = ["grey limestone", "red brick", "flint and chalk", "oak beams", "rough granite",
             "whitewashed cob", "dressed sandstone", "slate and rubble"]
CUSTOMS = ["a fair where the best fleece wins a copper kettle", "a race of flat-bottomed boats",
           "the blessing of the nets", "a procession with lanterns along the dyke",
           "the hiring fair for farm hands", "a feast of roasted chestnuts",
           "a contest of ploughing straight furrows", "the beating of the parish bounds",
           "a night when every door is left open to travellers", "the crowning of a harvest queen"]
DIRECTIONS = ["north", "south", "east", "west", "north-east", "south-west", "north-west", "south-east"]
UNITS = [("miles", 2, 40), ("furlongs", 2, 12), ("feet", 10, 400), ("acres", 20, 900)]

SENTENCES = [
    "{Place} lies {n} miles {dir} of {Place2}, where the {feature} turns towards the sea.",
    "The people of {Place} are mostly {trade}, and their {good} is sold as far away as {Place2}.",
    "In {season} the {feature} near {Place} is known for {weather}.",
    "Travellers describe {building} at {Place}, built of {material} and still in use.",
    "Along the lanes grow {plant} and {plant2}, and in the hedges one hears the {bird}.",
    "Every year the village holds {custom}.",
    "The old road from {Place} to {Place2} crosses the {feature} by a ford that floods in {season}.",
    "{Bird_cap}s nest in the {plant} thickets, and {beast} are often seen at dusk.",
    "A market is held on the {ordinal} day of each month, chiefly for {good} and {good2}.",
    "The soil here is thin over {rock}, so the farmers keep sheep rather than plough.",
    "According to the parish book, {building} was repaired in the reign of a forgotten lord.",
    "The {trade} of {Place} once quarrelled with those of {Place2} over the right to cut {plant}.",
    "From the top of the {feature} one can count {small} church towers on a clear day.",
    "The inn at {Place} keeps a fire burning from {season} until {season2}.",
    "Most houses are roofed with {roof}, and their gardens run down to the {feature}.",
    "In wet years the {feature} spreads across {n} acres of meadow and {bird}s come in great numbers.",
    "It is said that the {trade} learned their craft from a stranger who came up the {feature} by boat.",
    "The hedges are laid in the old manner, and {beast} shelter in them through {season}.",
    "Carts loaded with {good} leave {Place} before dawn to reach {Place2} by noon.",
    "Children are sent to gather {plant} in {season}, for it is used to dye cloth.",
    "The chapel at {Place} has a bell cast from melted {metal}, and its tone carries over the {feature}.",
    "Fishermen read the weather from the colour of the {feature}: {weather} follows a green sky.",
    "A stone marks the boundary between {Place} and {Place2}; nobody remembers who set it there.",
    "The wells of {Place} never run dry, even in the driest years.",
    "Bread here is made from {grain}, dark and heavy, and keeps for a week.",
    "The {trade} hold their meetings in {building}, under a painted ceiling of {plant} leaves.",
    "When {weather} sets in, the ferry at {Place} stops and the {trade} stay at home.",
    "Old maps show the {feature} further {dir} than it runs today.",
    "The common at {Place} supports {small} hundred sheep and a few ponies.",
    "Visitors praise the {good} of {Place}, though the locals prefer that of {Place2}.",
    "The lane past {building} is lined with {plant}, which flowers white in {season}.",
    "In the record of the year of the great flood, {Place} lost its mill and half its orchards.",
    "The {bird} is thought lucky here, and no one will disturb its nest.",
    "A walk of {small} hours along the {feature} leads from {Place} to {Place2}.",
    "Salt was once boiled in pans by the {feature}, and the mounds of ash remain.",
    "The {trade} mark their goods with a sign of a {bird}, cut into wood or stamped in wax.",
    "Fairs at {Place} draw {trade} from {Place2} and from villages beyond the {feature}.",
    "The church at {Place} is built of {material}, with a porch added later in {material2}.",
    "After {season} the roads become mud, and {good} travels by barge instead.",
    "Old people in {Place} remember winters when the {feature} froze from bank to bank.",
]
ORDINALS = ["first", "second", "third", "fifth", "seventh", "tenth", "twelfth", "fifteenth", "twentieth"]
ROCKS = ["limestone", "chalk", "granite", "sandstone", "clay", "shale"]
ROOFS = ["thatch of reed", "stone tiles", "blue slate", "red pantiles", "heather thatch", "oak shingles"]
METALS = ["cannon", "cooking pots", "old horseshoes", "a broken cauldron", "copper pans"]
GRAINS = ["rye", "barley and oats", "spelt", "wheat and rye", "oats"]
SMALL = ["two", "three", "four", "five", "six", "seven", "eight", "nine", "eleven", "twelve"]
CHAPTER_OPENINGS = [
    "Of the parish of {Place} and the country about it.",
    "A description of {Place}, with notes on its trades.",
    "Concerning the {feature} of {Place} and its seasons.",
    "The road from {Place} to {Place2}, and what is seen along it.",
    "Customs and husbandry in the district of {Place}.",
]


def name(rng: random.Random) -> str:
    parts = [rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(rng.choice([1, 1, 2]))]
    return ("".join(parts) + rng.choice(PLACE_SUFFIXES)).capitalize()


def fill(template: str, rng: random.Random, places: list[str]) -> str:
    p1, p2 = rng.sample(places, 2)
    s1, s2 = rng.sample(SEASONS, 2)
    m1, m2 = rng.sample(MATERIALS, 2)
    pl1, pl2 = rng.sample(PLANTS, 2)
    g1, g2 = rng.sample(GOODS, 2)
    bird = rng.choice(BIRDS)
    return template.format(
        Place=p1, Place2=p2, n=rng.choice(SMALL), dir=rng.choice(DIRECTIONS), feature=rng.choice(FEATURES),
        trade=rng.choice(TRADES), good=g1, good2=g2, season=s1, season2=s2, weather=rng.choice(WEATHER),
        building=rng.choice(BUILDINGS), material=m1, material2=m2, plant=pl1, plant2=pl2, bird=bird,
        Bird_cap=bird.capitalize(), beast=rng.choice(BEASTS), custom=rng.choice(CUSTOMS),
        ordinal=rng.choice(ORDINALS), small=rng.choice(SMALL), roof=rng.choice(ROOFS), metal=rng.choice(METALS),
        grain=rng.choice(GRAINS), rock=rng.choice(ROCKS),
    )


def generate(kb: int) -> str:
    rng = random.Random(SEED)
    places = sorted({name(rng) for _ in range(400)})
    out: list[str] = []
    size = 0
    chapter = 0
    while size < kb * 1024:
        chapter += 1
        heading = f"Chapter {chapter}. " + fill(rng.choice(CHAPTER_OPENINGS), rng, places)
        paragraphs = [heading]
        for _ in range(rng.randint(5, 10)):
            sentences = [fill(rng.choice(SENTENCES), rng, places) for _ in range(rng.randint(4, 8))]
            paragraphs.append(" ".join(sentences))
        block = "\n\n".join(paragraphs) + "\n\n"
        out.append(block)
        size += len(block)
    return "".join(out)[: kb * 1024].rsplit("\n\n", 1)[0] + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kb", type=int, default=300, help="size of the text in KiB (default 300)")
    ap.add_argument("-o", "--out", type=Path, default=OUT)
    args = ap.parse_args()
    text = generate(args.kb)
    args.out.write_text(text, encoding="utf-8")
    print(f"{args.out}: {len(text):,} characters, {text.count(chr(10) * 2) + 1:,} paragraphs")


if __name__ == "__main__":
    main()
