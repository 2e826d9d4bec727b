//! Synthetic quarter-drop generator for DemandLink.
//!
//! Writes one folder per quarter (`OUT/q1`, `OUT/q2`, …) in the ingest drop format, plus held-out
//! ground truth next to (never inside) the drops: `OUT/truth_qN.tsv` lists, for each seller, the
//! high-demand products of quarter N that the planted model says it would list.
//!
//! The planted model:
//! - a taxonomy of categories with five sub-groups each; a sub-group has its own product types
//!   (the third path level) and descriptor words, a category a few shared words, and titles are
//!   built mostly from those plus one noise word from anywhere;
//! - each seller focuses on one sub-group (a fifth of them on a second one in another category)
//!   and draws most listings from it, some from the rest of its category and a few from anywhere;
//! - popularity is Zipf-distributed by rank within a sub-group and drives listings, views,
//!   co-purchases and the ground truth alike; high-demand products rank near the top;
//! - co-purchase pairs are mostly within a sub-group, some within a category, a few random.
//!
//! Every random decision comes from a stream derived from `--seed` and the item it concerns (a
//! product, a seller, a quarter), so files are written in parallel and the output is still
//! byte-identical for the same arguments.

use std::collections::HashSet;
use std::fmt;
use std::fs::{self, File};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, BufWriter, Write};
use std::ops::Range;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use clap::{Parser, ValueEnum};
use flate2::Compression;
use flate2::write::GzEncoder;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;

/// Generates synthetic DemandLink quarter drops with planted structure and held-out truth.
#[derive(Parser, Debug)]
struct Args {
    /// Size preset; the explicit count options below override its values.
    #[arg(long, value_enum)]
    preset: Preset,
    /// Output directory: drops go to OUT/q1, OUT/q2, … (existing folders of those names are
    /// replaced), ground truth to OUT/truth_q1.tsv, ….
    #[arg(long)]
    out: PathBuf,
    /// Seed of every random choice: the same seed and options give byte-identical output.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of quarterly drops (1–20).
    #[arg(long)]
    quarters: Option<usize>,
    /// Gzip every drop file (`*.tsv.gz`); the medium and reference presets always do.
    #[arg(long)]
    gzip: bool,
    /// Sellers, across all quarters.
    #[arg(long)]
    sellers: Option<usize>,
    /// Listable catalogue products (what sellers list); products.tsv also holds the high-demand
    /// and auxiliary products.
    #[arg(long)]
    products: Option<usize>,
    /// High-demand products per quarter (never listed, a fresh set each quarter).
    #[arg(long)]
    high_demand: Option<usize>,
    /// Auxiliary products: only seen in views and co-purchases.
    #[arg(long)]
    aux: Option<usize>,
    /// Listing rows, across all quarters.
    #[arg(long)]
    listings: Option<usize>,
    /// Co-purchase rows, across all quarters (split evenly between them).
    #[arg(long)]
    copurchases: Option<usize>,
    /// Top-level categories (1–12).
    #[arg(long)]
    categories: Option<usize>,
}

/// Named sizes; see `Preset::config` for the numbers.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Preset {
    /// The README sample in `data/`: readable plain TSV, except q2's listings are gzipped.
    Small,
    /// About 30 k sellers: a quick end-to-end run.
    Medium,
    /// The reference scale: 300 k sellers, ~10 M listings, ~20 M co-purchase pairs.
    Reference,
    /// One plain-TSV drop with exactly 5 M listings and 2 M co-purchases, for ingest benchmarks.
    IngestBench,
}

/// Resolved generation parameters.
#[derive(Clone, Debug)]
struct Config {
    seed: u64,
    quarters: usize,
    categories: usize,
    sellers: usize,
    products: usize,
    high_demand: usize,
    aux: usize,
    listings: usize,
    copurchases: usize,
    gzip: bool,
    /// Gzip the listings of every drop after the first, so one sample exercises both readers.
    gzip_later_listings: bool,
}

impl Preset {
    /// The preset's parameters, before command-line overrides.
    fn config(self, seed: u64) -> Config {
        let base = Config {
            seed,
            quarters: 2,
            categories: TAXONOMY.len(),
            sellers: 0,
            products: 0,
            high_demand: 0,
            aux: 0,
            listings: 0,
            copurchases: 0,
            gzip: true,
            gzip_later_listings: false,
        };
        match self {
            Preset::Small => Config {
                categories: 6,
                sellers: 150,
                products: 600,
                high_demand: 250,
                aux: 200,
                listings: 3_200,
                copurchases: 3_000,
                gzip: false,
                gzip_later_listings: true,
                ..base
            },
            Preset::Medium => Config {
                sellers: 30_000,
                products: 200_000,
                high_demand: 10_000,
                aux: 200_000,
                listings: 1_000_000,
                copurchases: 2_000_000,
                ..base
            },
            Preset::Reference => Config {
                sellers: 300_000,
                products: 2_000_000,
                high_demand: 100_000,
                aux: 2_000_000,
                listings: 10_000_000,
                copurchases: 20_000_000,
                ..base
            },
            Preset::IngestBench => Config {
                quarters: 1,
                sellers: 150_000,
                products: 1_000_000,
                high_demand: 20_000,
                aux: 500_000,
                listings: 5_000_000,
                copurchases: 2_000_000,
                gzip: false,
                ..base
            },
        }
    }
}

impl Config {
    /// The preset with the explicit options applied, checked for feasibility.
    fn from_args(args: &Args) -> Result<Config> {
        let base = args.preset.config(args.seed);
        let cfg = Config {
            quarters: args.quarters.unwrap_or(base.quarters),
            categories: args.categories.unwrap_or(base.categories),
            sellers: args.sellers.unwrap_or(base.sellers),
            products: args.products.unwrap_or(base.products),
            high_demand: args.high_demand.unwrap_or(base.high_demand),
            aux: args.aux.unwrap_or(base.aux),
            listings: args.listings.unwrap_or(base.listings),
            copurchases: args.copurchases.unwrap_or(base.copurchases),
            gzip: base.gzip || args.gzip,
            ..base
        };
        ensure!(
            (1..=20).contains(&cfg.quarters),
            "--quarters must be 1..=20"
        );
        ensure!(
            (1..=TAXONOMY.len()).contains(&cfg.categories),
            "--categories must be 1..={}",
            TAXONOMY.len()
        );
        ensure!(cfg.sellers >= 1, "need at least one seller");
        ensure!(cfg.products >= 2, "need at least two listable products");
        ensure!(
            cfg.listings >= cfg.sellers && cfg.listings <= cfg.sellers * cfg.max_listings(),
            "--listings must be between one and {} per seller",
            cfg.max_listings()
        );
        ensure!(
            cfg.total_products() <= u32::MAX as usize,
            "too many products for 32-bit ids"
        );
        Ok(cfg)
    }

    /// Products of all kinds, over all quarters.
    fn total_products(&self) -> usize {
        self.products + self.high_demand * self.quarters + self.aux
    }

    /// Cap on one seller's listings, so distinct products can always be found quickly.
    fn max_listings(&self) -> usize {
        self.products / 2
    }

    /// Co-purchase rows of quarter `q` (1-based): an even split, remainder to the first ones.
    fn copurchases_in(&self, q: usize) -> usize {
        self.copurchases / self.quarters + usize::from(q <= self.copurchases % self.quarters)
    }
}

/// Sub-groups per category; every taxonomy entry has exactly this many.
const GROUPS: usize = 5;
/// Zipf exponent of product popularity within a sub-group.
const ZIPF_EXPONENT: f64 = 0.9;
/// Spread (lognormal sigma) of sub-group sizes, so some sub-groups are crowded and some thin.
const GROUP_SIZE_SIGMA: f64 = 0.5;
/// Spread (lognormal sigma) of listings per seller: the median is exp(-σ²/2) ≈ 0.55 of the mean.
const LISTINGS_SIGMA: f64 = 1.1;
/// Share of sellers with a second focus sub-group in another category.
const TWO_FOCI_SHARE: f64 = 0.2;
/// Listing sources of a single-focus seller, as cumulative probabilities.
const ONE_FOCUS: [(f64, Source); 3] = [
    (0.72, Source::Focus),
    (0.92, Source::FocusCategory),
    (1.0, Source::Anywhere),
];
/// Listing sources of a two-focus seller, as cumulative probabilities.
const TWO_FOCI: [(f64, Source); 5] = [
    (0.45, Source::Focus),
    (0.57, Source::FocusCategory),
    (0.82, Source::Second),
    (0.92, Source::SecondCategory),
    (1.0, Source::Anywhere),
];
/// Share of sellers (and of listable and auxiliary products) first appearing in each later
/// quarter; together with `LATE_LISTING_SHARE` this makes a later drop ~5 % new listings.
const NEW_SELLER_SHARE: f64 = 0.015;
/// See `NEW_SELLER_SHARE`.
const NEW_PRODUCT_SHARE: f64 = 0.02;
/// Chance, per later quarter, that an existing seller's listing is made in that quarter.
const LATE_LISTING_SHARE: f64 = 0.02;
/// Share of already-published products whose title changes in a later quarter.
const TEXT_CHANGE_SHARE: f64 = 0.01;
/// High-demand products sit in this top fraction of their sub-group's popularity ranking.
const HIGH_DEMAND_HEAD: f64 = 0.3;
/// How much likelier a seller is to want a high-demand product than an average catalogue one;
/// sets the size of the ground truth relative to the seller's listings.
const DEMAND_LIFT: f64 = 3.0;
/// Cumulative chances that a co-purchase partner is in the same sub-group, else the same
/// category; the rest are anywhere.
const PAIR_SAME_GROUP: f64 = 0.8;
/// See `PAIR_SAME_GROUP`.
const PAIR_SAME_CATEGORY: f64 = 0.95;
/// Mean of the exponential behind co-purchase counts (1 + floor of it): ~75 % are 1–3.
const PAIR_COUNT_SCALE: f64 = 2.2;
/// Largest co-purchase count.
const MAX_PAIR_COUNT: u32 = 20;
/// Views of the least popular product in a sub-group, before noise.
const VIEW_BASE: f64 = 20.0;
/// Spread (lognormal sigma) of the noise on views.
const VIEW_NOISE_SIGMA: f64 = 0.6;
/// Chance that a title starts with a brand.
const BRAND_SHARE: f64 = 0.5;
/// Chance that a title ends with a size or count.
const SIZE_SHARE: f64 = 0.4;
/// Chance that a title descriptor comes from the sub-group rather than the category vocabulary.
const GROUP_WORD_SHARE: f64 = 0.65;
/// Brands per category.
const BRANDS_PER_CATEGORY: usize = 24;
/// Model draws before falling back to a uniform one: dense small pools repeat a lot.
const MAX_TRIES: usize = 64;
/// Calendar year of quarter 1; timestamps follow real calendar quarters from its January 1st.
const FIRST_YEAR: i64 = 2024;

/// A top-level category and its vocabulary.
struct Category {
    name: &'static str,
    words: [&'static str; 8],
    groups: [Group; GROUPS],
}

/// A second-level sub-group: its product types (singular; pluralised for the path) and words.
struct Group {
    name: &'static str,
    leaves: [&'static str; 4],
    words: [&'static str; 8],
}

/// Shorthand for the taxonomy table.
const fn group(name: &'static str, leaves: [&'static str; 4], words: [&'static str; 8]) -> Group {
    Group {
        name,
        leaves,
        words,
    }
}

/// The fixed taxonomy; `--categories N` uses the first N entries.
#[rustfmt::skip]
const TAXONOMY: [Category; 12] = [
    Category {
        name: "Home",
        words: ["Modern", "Classic", "Premium", "Compact", "Stainless", "Ceramic", "Wooden", "Cotton"],
        groups: [
            group("Kitchen", ["Knife", "Skillet", "Cutting Board", "Saucepan"],
                ["Chef", "Forged", "Nonstick", "Carbon", "Serrated", "Cast", "Induction", "Bamboo"]),
            group("Bedding", ["Duvet Cover", "Pillow", "Sheet Set", "Blanket"],
                ["Linen", "Queen", "King", "Percale", "Quilted", "Microfiber", "Down", "Sateen"]),
            group("Bath", ["Towel", "Bath Mat", "Shower Curtain", "Soap Dispenser"],
                ["Plush", "Absorbent", "Waffle", "Turkish", "Quick-Dry", "Terry", "Spa", "Mildew-Resistant"]),
            group("Lighting", ["Lamp", "Pendant", "Bulb", "Sconce"],
                ["LED", "Dimmable", "Brass", "Warm", "Edison", "Table", "Floor", "Smart"]),
            group("Storage", ["Basket", "Bin", "Shelf Unit", "Drawer Organizer"],
                ["Stackable", "Woven", "Clear", "Foldable", "Modular", "Wire", "Lidded", "Closet"]),
        ],
    },
    Category {
        name: "Garden",
        words: ["Outdoor", "Weatherproof", "Heavy-Duty", "Galvanized", "Green", "Rustic", "Solar", "Natural"],
        groups: [
            group("Planting", ["Planter", "Seed Kit", "Raised Bed", "Pot"],
                ["Terracotta", "Self-Watering", "Herb", "Hanging", "Cedar", "Biodegradable", "Window", "Seedling"]),
            group("Watering", ["Hose", "Sprinkler", "Watering Can", "Nozzle"],
                ["Expandable", "Oscillating", "Drip", "Brass", "Retractable", "Soaker", "Timer", "Flexible"]),
            group("Garden Tools", ["Pruner", "Trowel", "Rake", "Shovel"],
                ["Bypass", "Ergonomic", "Forged", "Telescopic", "Carbon", "Hand", "Steel", "Ratchet"]),
            group("Patio", ["Chair", "Umbrella", "Fire Pit", "Lantern"],
                ["Wicker", "Teak", "Folding", "Cantilever", "Adirondack", "Aluminum", "Bistro", "Cushioned"]),
            group("Lawn", ["Mower", "Trimmer", "Spreader", "Edger"],
                ["Cordless", "Electric", "Self-Propelled", "Mulching", "Gas", "Broadcast", "Battery", "String"]),
        ],
    },
    Category {
        name: "Sports",
        words: ["Pro", "Lightweight", "Durable", "Training", "Performance", "Adjustable", "Breathable", "Athletic"],
        groups: [
            group("Fitness", ["Dumbbell", "Yoga Mat", "Resistance Band", "Kettlebell"],
                ["Neoprene", "Non-Slip", "Hex", "Rubber", "Cast-Iron", "Loop", "Thick", "Home-Gym"]),
            group("Cycling", ["Helmet", "Bike Light", "Saddle", "Pump"],
                ["Road", "Mountain", "Gravel", "USB", "Carbon", "Tubeless", "Clip", "Aero"]),
            group("Camping", ["Tent", "Sleeping Bag", "Backpack", "Headlamp"],
                ["Ultralight", "Waterproof", "Four-Season", "Down", "Dome", "Trekking", "Compact", "Rechargeable"]),
            group("Team Sports", ["Soccer Ball", "Basketball", "Shin Guard", "Jersey"],
                ["Official", "Indoor", "Match", "Composite", "Youth", "Stitched", "Regulation", "League"]),
            group("Water Sports", ["Swim Goggle", "Wetsuit", "Paddle", "Snorkel"],
                ["Anti-Fog", "Thermal", "Inflatable", "Full-Face", "Kayak", "Mirrored", "Dive", "Surf"]),
        ],
    },
    Category {
        name: "Books",
        words: ["Hardcover", "Paperback", "Illustrated", "Edition", "Bestselling", "Complete", "Annotated", "Collected"],
        groups: [
            group("Fiction", ["Novel", "Thriller", "Romance", "Short Story Collection"],
                ["Mystery", "Historical", "Gothic", "Epic", "Literary", "Dark", "Haunted", "Summer"]),
            group("Cookbooks", ["Cookbook", "Baking Guide", "Recipe Collection", "Meal Planner"],
                ["Vegan", "Italian", "Sourdough", "Weeknight", "Slow-Cooker", "Mediterranean", "Grilling", "Healthy"]),
            group("Children", ["Picture Book", "Board Book", "Activity Book", "Early Reader"],
                ["Bedtime", "Dinosaur", "Alphabet", "Counting", "Farm", "Rhyming", "Bunny", "Adventure"]),
            group("Science", ["Textbook", "Field Guide", "Handbook", "Atlas"],
                ["Physics", "Astronomy", "Biology", "Geology", "Botany", "Chemistry", "Ocean", "Universe"]),
            group("Self-Help", ["Workbook", "Journal", "Guidebook", "Memoir"],
                ["Mindful", "Productivity", "Habit", "Career", "Confidence", "Leadership", "Calm", "Success"]),
        ],
    },
    Category {
        name: "Toys",
        words: ["Kids", "Educational", "Colorful", "Deluxe", "Classic", "Mini", "Creative", "Fun"],
        groups: [
            group("Building", ["Block Set", "Brick Kit", "Magnetic Tile", "Marble Run"],
                ["Castle", "Rocket", "City", "Construction", "Engineering", "Starter", "Tower", "Robot"]),
            group("Dolls", ["Doll", "Dollhouse", "Plush Toy", "Action Figure"],
                ["Fashion", "Cuddly", "Articulated", "Princess", "Superhero", "Baby", "Wooden", "Collectible"]),
            group("Puzzles", ["Jigsaw Puzzle", "Brain Teaser", "Puzzle Cube", "Floor Puzzle"],
                ["1000-Piece", "Landscape", "Panorama", "Speed", "Logic", "Map", "Animal", "Challenge"]),
            group("Games", ["Board Game", "Card Game", "Dice Game", "Party Game"],
                ["Strategy", "Family", "Trivia", "Cooperative", "Word", "Fantasy", "Travel", "Bluff"]),
            group("Outdoor Play", ["Kite", "Water Blaster", "Swing", "Scooter"],
                ["Stunt", "Delta", "Kick", "Foldable", "Soaker", "Bubble", "Sandbox", "Glider"]),
        ],
    },
    Category {
        name: "Beauty",
        words: ["Natural", "Organic", "Gentle", "Nourishing", "Vegan", "Fragrance-Free", "Travel", "Daily"],
        groups: [
            group("Skincare", ["Serum", "Moisturizer", "Cleanser", "Face Mask"],
                ["Hyaluronic", "Retinol", "Vitamin-C", "Hydrating", "Clay", "Niacinamide", "Brightening", "Night"]),
            group("Haircare", ["Shampoo", "Conditioner", "Hair Oil", "Hair Dryer"],
                ["Argan", "Keratin", "Sulfate-Free", "Volumizing", "Ionic", "Curl", "Repair", "Coconut"]),
            group("Makeup", ["Lipstick", "Mascara", "Foundation", "Eyeshadow Palette"],
                ["Matte", "Waterproof", "Longwear", "Nude", "Shimmer", "Full-Coverage", "Liquid", "Velvet"]),
            group("Fragrance", ["Perfume", "Body Mist", "Cologne", "Scented Candle"],
                ["Floral", "Amber", "Citrus", "Musk", "Vanilla", "Oud", "Fresh", "Woody"]),
            group("Nails", ["Nail Polish", "Nail File", "Cuticle Oil", "Gel Kit"],
                ["Glossy", "Quick-Dry", "Glass", "Chip-Resistant", "UV", "Pastel", "Almond", "Builder"]),
        ],
    },
    Category {
        name: "Tools",
        words: ["Professional", "Heavy-Duty", "Cordless", "Industrial", "Precision", "Steel", "Compact", "20V"],
        groups: [
            group("Power Tools", ["Drill", "Circular Saw", "Impact Driver", "Sander"],
                ["Brushless", "Hammer", "Orbital", "Variable-Speed", "Lithium", "Keyless", "Torque", "Jigsaw"]),
            group("Hand Tools", ["Hammer", "Screwdriver Set", "Wrench", "Chisel"],
                ["Claw", "Ratcheting", "Magnetic", "Insulated", "Torx", "Adjustable", "Forged", "Locking"]),
            group("Measuring", ["Tape Measure", "Laser Level", "Caliper", "Stud Finder"],
                ["Digital", "Self-Leveling", "Metric", "Cross-Line", "Magnetic", "Vernier", "Rangefinder", "Accurate"]),
            group("Hardware", ["Screw Assortment", "Anchor Kit", "Hinge", "Bracket"],
                ["Zinc", "Brass", "Drywall", "Wood", "Concealed", "Corner", "Stainless", "Galvanized"]),
            group("Safety", ["Safety Goggle", "Work Glove", "Ear Muff", "Respirator"],
                ["Anti-Scratch", "Cut-Resistant", "Nitrile", "Hi-Vis", "Padded", "Reusable", "N95", "Impact"]),
        ],
    },
    Category {
        name: "Grocery",
        words: ["Organic", "Gourmet", "Family-Size", "Fair-Trade", "Gluten-Free", "Premium", "Natural", "Bulk"],
        groups: [
            group("Coffee & Tea", ["Coffee Bean", "Green Tea", "Espresso Pod", "Herbal Infusion"],
                ["Arabica", "Dark-Roast", "Single-Origin", "Matcha", "Chamomile", "Decaf", "Breakfast", "Colombian"]),
            group("Snacks", ["Granola Bar", "Trail Mix", "Potato Chip", "Cracker"],
                ["Sea-Salt", "Honey", "Almond", "Crunchy", "Cheddar", "Protein", "Roasted", "Kettle"]),
            group("Pantry", ["Olive Oil", "Pasta Pack", "Spice Blend", "Flour Bag"],
                ["Extra-Virgin", "Durum", "Basmati", "Smoked", "Stone-Ground", "Italian", "Himalayan", "Whole-Wheat"]),
            group("Sweets", ["Chocolate Bar", "Gummy Bear", "Cookie Tin", "Caramel"],
                ["Dark", "Milk", "Sour", "Butter", "Salted", "Truffle", "Fruit", "Mint"]),
            group("Beverages", ["Sparkling Water", "Juice", "Energy Drink", "Kombucha"],
                ["Lemon", "Mango", "Unsweetened", "Ginger", "Cold-Pressed", "Berry", "Electrolyte", "Zero-Sugar"]),
        ],
    },
    Category {
        name: "Pets",
        words: ["Pet", "Durable", "Washable", "Small-Breed", "Large-Breed", "Cozy", "Natural", "Interactive"],
        groups: [
            group("Dog", ["Dog Bed", "Leash", "Chew Toy", "Harness"],
                ["Orthopedic", "Reflective", "No-Pull", "Rope", "Memory-Foam", "Retractable", "Squeaky", "Puppy"]),
            group("Cat", ["Scratching Post", "Cat Tree", "Litter Box", "Cat Toy"],
                ["Sisal", "Feather", "Hooded", "Multi-Level", "Catnip", "Clumping", "Wand", "Kitten"]),
            group("Aquarium", ["Fish Tank", "Aquarium Filter", "Heater", "Air Pump"],
                ["Freshwater", "Nano", "Submersible", "Canister", "Glass", "Betta", "Planted", "Silent"]),
            group("Pet Food", ["Kibble", "Wet Food Can", "Treat Pouch", "Dental Chew"],
                ["Grain-Free", "Salmon", "Chicken", "Senior", "Freeze-Dried", "Lamb", "High-Protein", "Limited-Ingredient"]),
            group("Small Animals", ["Hamster Cage", "Hay Feeder", "Rabbit Hutch", "Bird Perch"],
                ["Guinea-Pig", "Timothy", "Wooden", "Chinchilla", "Budgie", "Ferret", "Tunnel", "Bedding"]),
        ],
    },
    Category {
        name: "Music",
        words: ["Studio", "Vintage", "Portable", "Professional", "Beginner", "Acoustic", "Wireless", "Classic"],
        groups: [
            group("Guitars", ["Electric Guitar", "Acoustic Guitar", "Guitar String Set", "Capo"],
                ["Dreadnought", "Solid-Body", "Maple", "Rosewood", "Nickel", "Steel", "Cutaway", "Humbucker"]),
            group("Keyboards", ["Digital Piano", "Synthesizer", "MIDI Controller", "Keyboard Stand"],
                ["88-Key", "Weighted", "Analog", "Polyphonic", "Semi-Weighted", "Arpeggiator", "Modular", "Stage"]),
            group("Audio", ["Headphone", "Studio Monitor", "Microphone", "Audio Interface"],
                ["Condenser", "Dynamic", "Closed-Back", "XLR", "USB-C", "Cardioid", "Noise-Cancelling", "Reference"]),
            group("Drums", ["Drum Kit", "Snare Drum", "Cymbal", "Drumstick"],
                ["Electronic", "Maple", "Bronze", "Hickory", "Crash", "Ride", "Practice", "Birch"]),
            group("Vinyl", ["Record Player", "Vinyl Record", "Turntable Cartridge", "Record Sleeve"],
                ["Belt-Drive", "Direct-Drive", "LP", "180-Gram", "Remastered", "Stylus", "Jazz", "Soul"]),
        ],
    },
    Category {
        name: "Auto",
        words: ["Car", "Universal", "All-Weather", "Heavy-Duty", "OEM-Fit", "Performance", "Automotive", "Replacement"],
        groups: [
            group("Interior", ["Seat Cover", "Floor Mat", "Steering Wheel Cover", "Sun Shade"],
                ["Leatherette", "Rubber", "Custom-Fit", "Windshield", "Breathable", "Trunk", "Neoprene", "Memory-Foam"]),
            group("Electronics", ["Dash Cam", "Car Charger", "Bluetooth Adapter", "Backup Camera"],
                ["4K", "Dual-Port", "Night-Vision", "FM", "Wide-Angle", "Fast-Charge", "Wireless", "GPS"]),
            group("Maintenance", ["Motor Oil", "Oil Filter", "Wiper Blade", "Brake Pad"],
                ["Synthetic", "Ceramic", "5W-30", "Beam", "High-Mileage", "Semi-Metallic", "Winter", "Spin-On"]),
            group("Exterior", ["Car Cover", "Roof Rack", "Mud Flap", "Car Wax"],
                ["UV-Protection", "Crossbar", "Hail", "Carnauba", "Splash", "Cargo", "Ceramic", "Polish"]),
            group("Tires & Wheels", ["Tire Inflator", "Wheel Lock", "Lug Wrench", "Tire Gauge"],
                ["Digital", "Portable", "Cordless", "Anti-Theft", "Telescoping", "Pressure", "Chrome", "Alloy"]),
        ],
    },
    Category {
        name: "Office",
        words: ["Office", "Ergonomic", "Minimalist", "Desktop", "Professional", "Refillable", "Recycled", "Premium"],
        groups: [
            group("Writing", ["Ballpoint Pen", "Fountain Pen", "Notebook", "Highlighter"],
                ["Gel", "Fine-Point", "Dotted", "Pastel", "Rollerball", "Lined", "Leather", "Archival"]),
            group("Furniture", ["Office Chair", "Standing Desk", "Monitor Arm", "Footrest"],
                ["Mesh", "Height-Adjustable", "Lumbar", "Gas-Spring", "Electric", "Swivel", "Dual", "Walnut"]),
            group("Paper", ["Paper Ream", "Sticky Note", "Envelope", "Index Card"],
                ["A4", "Letter", "Bright-White", "Neon", "Kraft", "Ruled", "Cardstock", "Bulk"]),
            group("Organization", ["File Folder", "Desk Organizer", "Binder", "Label Maker"],
                ["Expanding", "Mesh", "Ring", "Accordion", "Color-Coded", "Stackable", "Thermal", "Hanging"]),
            group("Tech Accessories", ["Laptop Stand", "Mouse Pad", "Keyboard", "USB Hub"],
                ["Aluminum", "Silent-Click", "Mechanical", "Foldable", "Multi-Port", "Vertical", "Compact", "Backlit"]),
        ],
    },
];

/// Syllable parts of the pronounceable brand and shop names.
const ONSETS: [&str; 24] = [
    "b", "c", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "cl", "dr",
    "fl", "gr", "kr", "pl", "st", "tr",
];
/// See `ONSETS`; "a" and "o" are listed twice to weight them.
const VOWELS: [&str; 7] = ["a", "e", "i", "o", "u", "a", "o"];
/// See `ONSETS`; empty entries make open final syllables common.
const CODAS: [&str; 8] = ["", "", "n", "r", "l", "s", "x", "m"];
/// Last word of a seller name.
const SHOP_SUFFIXES: [&str; 10] = [
    "Supply", "Store", "Outlet", "Traders", "Co.", "Goods", "Market", "Depot", "Direct", "House",
];

/// Category of sub-group `g`.
fn category_of(g: usize) -> usize {
    g / GROUPS
}

/// The taxonomy entries of sub-group `g`.
fn taxonomy(g: usize) -> (&'static Category, &'static Group) {
    let category = &TAXONOMY[category_of(g)];
    (category, &category.groups[g % GROUPS])
}

/// English plural of a product type, for the category path; the table avoids irregular nouns.
fn plural(noun: &str) -> String {
    if let Some(stem) = noun.strip_suffix("fe") {
        format!("{stem}ves")
    } else if noun.ends_with(['s', 'x']) || noun.ends_with("ch") || noun.ends_with("sh") {
        format!("{noun}es")
    } else if let Some(stem) = noun.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        format!("{stem}ies")
    } else {
        format!("{noun}s")
    }
}

/// Independent random streams; the discriminant keeps streams of different purposes apart.
#[derive(Clone, Copy)]
enum Stream {
    World,
    Title,
    TextChange,
    SellerName,
    Listings,
    Truth,
    Copurchases,
    PairCount,
    Views,
}

/// Random generator for every stream: a named algorithm, so its output is stable across rand
/// releases (StdRng's is not), and cheap to seed once per product or seller.
type Rng = Xoshiro256PlusPlus;

/// The splitmix64 finaliser: a fast, well-mixing bijection on u64.
fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A 64-bit value determined by the seed, the stream and two item coordinates.
fn derive(seed: u64, purpose: Stream, a: u64, b: u64) -> u64 {
    mix64(mix64(mix64(seed ^ mix64(purpose as u64)) ^ a) ^ b)
}

/// The random stream of one item.
fn stream(seed: u64, purpose: Stream, a: u64, b: u64) -> Rng {
    Rng::seed_from_u64(derive(seed, purpose, a, b))
}

/// Maps a hash to a uniform float in [0, 1).
fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// A standard normal deviate (Box–Muller; rand itself has no normal distribution).
fn normal(rng: &mut Rng) -> f64 {
    let u = 1.0 - rng.random::<f64>();
    let v = rng.random::<f64>();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// A lognormal deviate with median 1.
fn lognormal(rng: &mut Rng, sigma: f64) -> f64 {
    (sigma * normal(rng)).exp()
}

/// Rounds `x` down or up at random so that the expectation is `x`.
fn stochastic_round(rng: &mut Rng, x: f64) -> usize {
    x.floor() as usize + usize::from(rng.random::<f64>() < x.fract())
}

/// A rank in `0..n` from a Zipf law, by inverting the continuous x^-s law on [1, n+1): O(1)
/// without per-pool tables, and close enough to the discrete law for synthetic data.
fn zipf_rank(rng: &mut Rng, n: usize) -> usize {
    let a = 1.0 - ZIPF_EXPONENT;
    let span = (n as f64 + 1.0).powf(a) - 1.0;
    let x = (1.0 + span * rng.random::<f64>()).powf(1.0 / a);
    (x as usize).saturating_sub(1).min(n - 1)
}

/// The quarter an item first appears in: each later quarter with chance `later_share`, else 1.
fn intro_quarter(rng: &mut Rng, later_share: f64, quarters: usize) -> u8 {
    let later = later_share * (quarters - 1) as f64;
    if later > 0.0 && rng.random_bool(later) {
        rng.random_range(2..=quarters as u8)
    } else {
        1
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// Unix seconds `[start, end)` of calendar quarter `q` (1-based, quarter 1 = Q1 of FIRST_YEAR).
fn quarter_span(q: usize) -> Range<i64> {
    let start = |q0: usize| {
        let year = FIRST_YEAR + (q0 / 4) as i64;
        let month = 1 + 3 * (q0 % 4) as i64;
        days_from_civil(year, month, 1) * 86_400
    };
    start(q - 1)..start(q)
}

/// A capitalised pronounceable pseudo-word, for brand and shop names.
fn pseudo_word(rng: &mut Rng) -> String {
    let mut word = String::new();
    let syllables = if rng.random_bool(0.7) { 2 } else { 3 };
    for _ in 0..syllables {
        word.push_str(ONSETS.choose(rng).expect("non-empty"));
        word.push_str(VOWELS.choose(rng).expect("non-empty"));
    }
    word.push_str(CODAS.choose(rng).expect("non-empty"));
    let mut chars = word.chars();
    let first = chars.next().expect("non-empty").to_ascii_uppercase();
    std::iter::once(first).chain(chars).collect()
}

/// Product ids grouped by sub-group, each group in popularity order (rank 0 first).
struct Pools {
    /// `items[offsets[g]..offsets[g + 1]]` is sub-group `g`.
    offsets: Vec<usize>,
    items: Vec<u32>,
}

impl Pools {
    /// Groups `(group, id)` entries, keeping their order within a group.
    fn build(groups: usize, entries: impl Iterator<Item = (usize, u32)> + Clone) -> Pools {
        let mut offsets = vec![0; groups + 1];
        for (g, _) in entries.clone() {
            offsets[g + 1] += 1;
        }
        let mut total = 0;
        for offset in &mut offsets {
            total += *offset;
            *offset = total;
        }
        let mut next = offsets.clone();
        let mut items = vec![0; offsets[groups]];
        for (g, id) in entries {
            items[next[g]] = id;
            next[g] += 1;
        }
        Pools { offsets, items }
    }

    /// Number of sub-groups.
    fn groups(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Number of products in all sub-groups.
    fn len(&self) -> usize {
        self.items.len()
    }

    /// Sub-group `g`, most popular first.
    fn group(&self, g: usize) -> &[u32] {
        &self.items[self.offsets[g]..self.offsets[g + 1]]
    }

    /// A sub-group in `range`, chosen in proportion to its size; None if they are all empty.
    fn pick_group(&self, rng: &mut Rng, range: Range<usize>) -> Option<usize> {
        let (lo, hi) = (self.offsets[range.start], self.offsets[range.end]);
        if lo == hi {
            return None;
        }
        let slot = rng.random_range(lo..hi);
        Some(self.offsets.partition_point(|&o| o <= slot) - 1)
    }

    /// A sub-group in the category of `g`, chosen in proportion to size.
    fn pick_in_category(&self, rng: &mut Rng, g: usize) -> Option<usize> {
        let c = category_of(g);
        self.pick_group(rng, c * GROUPS..(c + 1) * GROUPS)
    }

    /// A product of sub-group `g` by Zipf popularity; None if it is empty.
    fn zipf(&self, rng: &mut Rng, g: usize) -> Option<u32> {
        let group = self.group(g);
        (!group.is_empty()).then(|| group[zipf_rank(rng, group.len())])
    }

    /// Any product, uniformly: the fallback when the model keeps drawing repeats.
    fn uniform(&self, rng: &mut Rng) -> u32 {
        self.items[rng.random_range(0..self.items.len())]
    }

    /// The products for which `keep` holds, in the same order.
    fn filter(&self, keep: impl Fn(u32) -> bool) -> Pools {
        let keep = &keep;
        let groups = self.groups();
        Pools::build(
            groups,
            (0..groups).flat_map(|g| {
                self.group(g)
                    .iter()
                    .filter(move |&&id| keep(id))
                    .map(move |&id| (g, id))
            }),
        )
    }
}

/// A product, indexed by its numeric id. Whether it is listable, high-demand or auxiliary is
/// recorded by the pool it belongs to.
#[derive(Clone, Copy, Default)]
struct Product {
    group: u16,
    leaf: u8,
    /// First quarter (1-based) in which the product exists; a high-demand product's quarter.
    intro: u8,
}

/// A seller, indexed by its numeric id.
struct Seller {
    /// First quarter (1-based) with the seller in sellers.tsv.
    start: u8,
    /// Focus sub-group.
    focus: u16,
    /// Second focus sub-group, in another category.
    second: Option<u16>,
    /// Listings over all quarters.
    listings: u32,
}

impl Seller {
    /// A sub-group to draw the seller's next product from, per its listing sources; None when
    /// the chosen part of `pool` is empty.
    fn source_group(&self, pool: &Pools, rng: &mut Rng) -> Option<usize> {
        let sources: &[(f64, Source)] = if self.second.is_some() {
            &TWO_FOCI
        } else {
            &ONE_FOCUS
        };
        let u = rng.random::<f64>();
        let source = sources
            .iter()
            .find(|(threshold, _)| u < *threshold)
            .map_or(Source::Anywhere, |&(_, source)| source);
        let focus = usize::from(self.focus);
        let second = self.second.map_or(focus, usize::from);
        match source {
            Source::Focus => Some(focus),
            Source::FocusCategory => pool.pick_in_category(rng, focus),
            Source::Second => Some(second),
            Source::SecondCategory => pool.pick_in_category(rng, second),
            Source::Anywhere => pool.pick_group(rng, 0..pool.groups()),
        }
    }

    /// Fills `picks` with `count` distinct products of `pool`, chosen the way this seller does.
    /// `count` must be at most half the pool, so the uniform fallback ends quickly.
    fn sample(
        &self,
        pool: &Pools,
        count: usize,
        rng: &mut Rng,
        seen: &mut HashSet<u32>,
        picks: &mut Vec<u32>,
    ) {
        seen.clear();
        picks.clear();
        while picks.len() < count {
            let modelled = (0..MAX_TRIES).find_map(|_| {
                let g = self.source_group(pool, rng)?;
                pool.zipf(rng, g).filter(|p| !seen.contains(p))
            });
            let pick = modelled.unwrap_or_else(|| {
                loop {
                    let p = pool.uniform(rng);
                    if !seen.contains(&p) {
                        break p;
                    }
                }
            });
            seen.insert(pick);
            picks.push(pick);
        }
    }
}

/// Where a seller's next product comes from.
#[derive(Clone, Copy)]
enum Source {
    Focus,
    FocusCategory,
    Second,
    SecondCategory,
    Anywhere,
}

/// The files of a drop.
#[derive(Clone, Copy)]
enum DropFile {
    Products,
    Sellers,
    Listings,
    Copurchases,
    Views,
    HighDemand,
}

impl DropFile {
    /// File name without the `.tsv`/`.tsv.gz` extension.
    fn name(self) -> &'static str {
        match self {
            DropFile::Products => "products",
            DropFile::Sellers => "sellers",
            DropFile::Listings => "listings",
            DropFile::Copurchases => "copurchases",
            DropFile::Views => "views",
            DropFile::HighDemand => "high_demand",
        }
    }

    /// The header line.
    fn header(self) -> &'static str {
        match self {
            DropFile::Products => "product_id\tcategory\ttitle",
            DropFile::Sellers => "seller_id\tname\tprimary_category",
            DropFile::Listings => "seller_id\tproduct_id\tts",
            DropFile::Copurchases => "product_a\tproduct_b\tcount",
            DropFile::Views => "product_id\tviews",
            DropFile::HighDemand => "product_id",
        }
    }
}

/// A plain or gzip output stream.
enum Sink {
    Plain(BufWriter<File>),
    Gzip(BufWriter<GzEncoder<File>>),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Gzip(w) => w.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.write_all(buf),
            Sink::Gzip(w) => w.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Gzip(w) => w.flush(),
        }
    }
}

/// A TSV file being written, counting its data rows.
struct Tsv {
    sink: Sink,
    path: PathBuf,
    rows: u64,
    quarter: usize,
    label: &'static str,
}

/// Rows written to one file, for the summary.
struct Written {
    quarter: usize,
    label: &'static str,
    rows: u64,
}

impl Tsv {
    /// Creates `path` (gzip-compressed if asked) and writes the header line.
    fn create(
        path: PathBuf,
        header: &str,
        gzip: bool,
        quarter: usize,
        label: &'static str,
    ) -> Result<Tsv> {
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut sink = if gzip {
            // Level 1: the generator should not be the slow part of a test run, and level 6 takes
            // ~4x as long for files only ~15 % smaller.
            let encoder = GzEncoder::new(file, Compression::fast());
            Sink::Gzip(BufWriter::with_capacity(1 << 20, encoder))
        } else {
            Sink::Plain(BufWriter::with_capacity(1 << 20, file))
        };
        writeln!(sink, "{header}")?;
        Ok(Tsv {
            sink,
            path,
            rows: 0,
            quarter,
            label,
        })
    }

    /// Writes one data row; `fields` leaves out the newline.
    fn row(&mut self, fields: fmt::Arguments) -> io::Result<()> {
        self.sink.write_fmt(fields)?;
        self.sink.write_all(b"\n")?;
        self.rows += 1;
        Ok(())
    }

    /// Flushes and closes the file; for gzip, writes the trailer.
    fn finish(self) -> Result<Written> {
        let context = || format!("finishing {}", self.path.display());
        match self.sink {
            Sink::Plain(w) => {
                w.into_inner()
                    .map_err(|e| e.into_error())
                    .with_context(context)?;
            }
            Sink::Gzip(w) => {
                let encoder = w
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .with_context(context)?;
                encoder.finish().with_context(context)?;
            }
        }
        Ok(Written {
            quarter: self.quarter,
            label: self.label,
            rows: self.rows,
        })
    }
}

/// A product id, formatted `p0001234` with the dataset's fixed width so that string order is
/// numeric order.
struct Pid(u32, usize);

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{:0w$}", self.0, w = self.1)
    }
}

/// A seller id, formatted `s000123` with the dataset's fixed width.
struct Sid(usize, usize);

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{:0w$}", self.0, w = self.1)
    }
}

/// A unit of output work; each writes its own files from its own random streams.
#[derive(Clone, Copy)]
enum Task {
    Listings,
    Copurchases(usize),
    Products(usize),
    Views(usize),
    HighDemand(usize),
    Sellers,
}

/// Hasher for packed pair keys: one splitmix round suffices for the hash table and is far
/// cheaper than SipHash on tens of millions of inserts.
#[derive(Default)]
struct PairHasher(u64);

impl Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix64(self.0 ^ u64::from(b));
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = mix64(self.0 ^ x);
    }
}

/// A set of packed product pairs.
type PairSet = HashSet<u64, BuildHasherDefault<PairHasher>>;

/// Packs an unordered product pair as `(smaller << 32) | larger`, so sorting the keys sorts rows
/// by `product_a`, then `product_b`.
fn pack(a: u32, b: u32) -> u64 {
    (u64::from(a.min(b)) << 32) | u64::from(a.max(b))
}

/// The planted world: products, sellers, popularity orders and the names derived from them.
struct World {
    cfg: Config,
    out: PathBuf,
    /// By product id.
    products: Vec<Product>,
    sellers: Vec<Seller>,
    /// Listable products, by sub-group in popularity order.
    listable: Pools,
    /// Per quarter (0-based), that quarter's high-demand products.
    high_demand: Vec<Pools>,
    /// Per quarter (0-based), every product existing by then, in merged popularity order.
    live: Vec<Pools>,
    /// Per category, brand names.
    brands: Vec<Vec<String>>,
    /// Per sub-group and product type, the category path.
    paths: Vec<Vec<String>>,
    product_width: usize,
    seller_width: usize,
}

impl World {
    /// Draws the world from the seed.
    fn build(cfg: Config, out: PathBuf) -> Result<World> {
        let mut rng = stream(cfg.seed, Stream::World, 0, 0);
        let groups = cfg.categories * GROUPS;
        let mut cumulative = Vec::with_capacity(groups);
        let mut sum = 0.0;
        for _ in 0..groups {
            sum += lognormal(&mut rng, GROUP_SIZE_SIGMA);
            cumulative.push(sum);
        }

        let total = cfg.total_products();
        let listable_end = cfg.products;
        let high_demand_end = listable_end + cfg.high_demand * cfg.quarters;
        // Products are drawn in this internal order (listable, high-demand by quarter, aux), which
        // is also each kind's popularity order; ids are shuffled so that neither kind nor
        // popularity can be read off the id.
        let mut ids: Vec<u32> = (0..total as u32).collect();
        ids.shuffle(&mut rng);
        let mut products = vec![Product::default(); total];
        for (i, &id) in ids.iter().enumerate() {
            let intro = if (listable_end..high_demand_end).contains(&i) {
                (1 + (i - listable_end) / cfg.high_demand) as u8
            } else {
                intro_quarter(&mut rng, NEW_PRODUCT_SHARE, cfg.quarters)
            };
            let x = rng.random::<f64>() * sum;
            let group = cumulative.partition_point(|&c| c <= x).min(groups - 1);
            products[id as usize] = Product {
                group: group as u16,
                leaf: rng.random_range(0..4),
                intro,
            };
        }

        let pool = |range: Range<usize>| {
            let products = &products;
            Pools::build(
                groups,
                ids[range]
                    .iter()
                    .map(move |&id| (usize::from(products[id as usize].group), id)),
            )
        };
        let listable = pool(0..listable_end);
        let high_demand: Vec<Pools> = (0..cfg.quarters)
            .map(|q| {
                let start = listable_end + q * cfg.high_demand;
                pool(start..start + cfg.high_demand)
            })
            .collect();
        let aux = pool(high_demand_end..total);
        let merged = merge_popularity(&listable, &high_demand, &aux);
        let live: Vec<Pools> = (1..=cfg.quarters)
            .map(|q| merged.filter(|id| usize::from(products[id as usize].intro) <= q))
            .collect();
        for (q, pool) in live.iter().enumerate() {
            let n = pool.len() as u64;
            ensure!(
                cfg.copurchases_in(q + 1) as u64 <= n * n.saturating_sub(1) / 4,
                "too many co-purchase pairs for {n} products in quarter {}",
                q + 1
            );
        }

        let sellers = draw_sellers(&cfg, &listable, &mut rng);
        let brands = (0..cfg.categories)
            .map(|_| {
                (0..BRANDS_PER_CATEGORY)
                    .map(|_| pseudo_word(&mut rng))
                    .collect()
            })
            .collect();
        let paths = (0..groups)
            .map(|g| {
                let (category, group) = taxonomy(g);
                group
                    .leaves
                    .iter()
                    .map(|leaf| format!("{} > {} > {}", category.name, group.name, plural(leaf)))
                    .collect()
            })
            .collect();
        let width = |n: usize, min: usize| min.max(n.saturating_sub(1).to_string().len());
        Ok(World {
            product_width: width(total, 7),
            seller_width: width(cfg.sellers, 6),
            cfg,
            out,
            products,
            sellers,
            listable,
            high_demand,
            live,
            brands,
            paths,
        })
    }

    /// Folder of drop `q`.
    fn drop_dir(&self, q: usize) -> PathBuf {
        self.out.join(format!("q{q}"))
    }

    /// Replaces the drop folders with empty ones, so no stale file (say, a `.tsv` next to a new
    /// `.tsv.gz`) survives from an earlier run.
    fn prepare_dirs(&self) -> Result<()> {
        for q in 1..=self.cfg.quarters {
            let dir = self.drop_dir(q);
            if dir.exists() {
                fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
            }
            fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        Ok(())
    }

    /// Creates one file of drop `q`.
    fn create(&self, q: usize, file: DropFile) -> Result<Tsv> {
        let gzip = self.cfg.gzip
            || (self.cfg.gzip_later_listings && q > 1 && matches!(file, DropFile::Listings));
        let name = format!("{}.tsv{}", file.name(), if gzip { ".gz" } else { "" });
        Tsv::create(
            self.drop_dir(q).join(name),
            file.header(),
            gzip,
            q,
            file.name(),
        )
    }

    /// Formats product `id`.
    fn pid(&self, id: u32) -> Pid {
        Pid(id, self.product_width)
    }

    /// Formats seller `i`.
    fn sid(&self, i: usize) -> Sid {
        Sid(i, self.seller_width)
    }

    /// Runs one task.
    fn run(&self, task: Task) -> Result<Vec<Written>> {
        match task {
            Task::Listings => self.write_listings(),
            Task::Copurchases(q) => self.write_copurchases(q).map(|w| vec![w]),
            Task::Products(q) => self.write_products(q).map(|w| vec![w]),
            Task::Views(q) => self.write_views(q).map(|w| vec![w]),
            Task::HighDemand(q) => self.write_high_demand(q),
            Task::Sellers => self.write_sellers(),
        }
    }

    /// listings.tsv of every drop, in one pass over the sellers.
    fn write_listings(&self) -> Result<Vec<Written>> {
        let quarters = self.cfg.quarters;
        let mut files = (1..=quarters)
            .map(|q| self.create(q, DropFile::Listings))
            .collect::<Result<Vec<_>>>()?;
        let (mut seen, mut picks, mut rows) = (HashSet::new(), Vec::new(), Vec::new());
        for (i, s) in self.sellers.iter().enumerate() {
            let mut rng = stream(self.cfg.seed, Stream::Listings, i as u64, 0);
            let count = s.listings as usize;
            s.sample(&self.listable, count, &mut rng, &mut seen, &mut picks);
            rows.clear();
            for &p in &picks {
                let mut q = usize::from(s.start);
                let later = LATE_LISTING_SHARE * (quarters - q) as f64;
                if later > 0.0 && rng.random_bool(later) {
                    q = rng.random_range(q + 1..=quarters);
                }
                // A product can only be listed once it exists.
                q = q.max(usize::from(self.products[p as usize].intro));
                rows.push((q, rng.random_range(quarter_span(q)), p));
            }
            rows.sort_unstable();
            for &(q, ts, p) in &rows {
                files[q - 1].row(format_args!("{}\t{}\t{ts}", self.sid(i), self.pid(p)))?;
            }
        }
        files.into_iter().map(Tsv::finish).collect()
    }

    /// A packed co-purchase pair of `live` products, or None if the draw hit an empty sub-group
    /// or the same product twice.
    fn draw_pair(&self, live: &Pools, rng: &mut Rng) -> Option<u64> {
        let ga = live.pick_group(rng, 0..live.groups())?;
        let a = live.zipf(rng, ga)?;
        let u = rng.random::<f64>();
        let gb = if u < PAIR_SAME_GROUP {
            ga
        } else if u < PAIR_SAME_CATEGORY {
            live.pick_in_category(rng, ga)?
        } else {
            live.pick_group(rng, 0..live.groups())?
        };
        let b = live.zipf(rng, gb)?;
        (a != b).then(|| pack(a, b))
    }

    /// copurchases.tsv of drop `q`: exactly its share of distinct pairs, sorted.
    fn write_copurchases(&self, q: usize) -> Result<Written> {
        let live = &self.live[q - 1];
        let target = self.cfg.copurchases_in(q);
        let mut rng = stream(self.cfg.seed, Stream::Copurchases, q as u64, 0);
        let mut pairs = PairSet::with_capacity_and_hasher(target, Default::default());
        while pairs.len() < target {
            let modelled = (0..MAX_TRIES).find_map(|_| {
                self.draw_pair(live, &mut rng)
                    .filter(|key| !pairs.contains(key))
            });
            let key = modelled.unwrap_or_else(|| {
                loop {
                    let (a, b) = (live.uniform(&mut rng), live.uniform(&mut rng));
                    if a != b && !pairs.contains(&pack(a, b)) {
                        break pack(a, b);
                    }
                }
            });
            pairs.insert(key);
        }
        let mut keys: Vec<u64> = pairs.into_iter().collect();
        keys.sort_unstable();

        let mut file = self.create(q, DropFile::Copurchases)?;
        for key in keys {
            // Derived from the pair rather than drawn in sequence, so it needs no storage.
            let u = unit(derive(self.cfg.seed, Stream::PairCount, q as u64, key));
            let count = 1 + ((-(1.0 - u).ln() * PAIR_COUNT_SCALE) as u32).min(MAX_PAIR_COUNT - 1);
            let (a, b) = ((key >> 32) as u32, key as u32);
            file.row(format_args!("{}\t{}\t{count}", self.pid(a), self.pid(b)))?;
        }
        file.finish()
    }

    /// Writes the title of product `id` as of `version` (0 = first published, else the quarter
    /// of a text change) into `out`.
    fn title(&self, id: u32, version: usize, out: &mut String) {
        let product = self.products[id as usize];
        let g = usize::from(product.group);
        let (category, group) = taxonomy(g);
        let mut rng = stream(self.cfg.seed, Stream::Title, u64::from(id), version as u64);
        out.clear();
        if rng.random_bool(BRAND_SHARE) {
            let brand = self.brands[category_of(g)].choose(&mut rng);
            out.push_str(brand.expect("non-empty"));
            out.push(' ');
        }
        // With the product type these make the 3–6 topical words.
        let descriptors = rng.random_range(2..=5);
        let mut words: Vec<&str> = Vec::with_capacity(descriptors + 1);
        while words.len() < descriptors {
            let vocabulary = if rng.random_bool(GROUP_WORD_SHARE) {
                &group.words
            } else {
                &category.words
            };
            let word = vocabulary.choose(&mut rng).expect("non-empty");
            if !words.contains(word) {
                words.push(*word);
            }
        }
        let noise = loop {
            let (other_category, other_group) =
                taxonomy(rng.random_range(0..self.cfg.categories * GROUPS));
            let vocabulary = if rng.random_bool(0.5) {
                &other_group.words
            } else {
                &other_category.words
            };
            let word = vocabulary.choose(&mut rng).expect("non-empty");
            if !words.contains(word) {
                break *word;
            }
        };
        words.insert(rng.random_range(0..=words.len()), noise);
        words.push(group.leaves[usize::from(product.leaf)]);
        out.push_str(&words.join(" "));
        if rng.random_bool(SIZE_SHARE) {
            let size = match rng.random_range(0..6) {
                0 => format!(" {} oz", [4, 8, 12, 16, 32][rng.random_range(0..5)]),
                1 => format!(" {}-Pack", rng.random_range(2..=12)),
                2 => format!(" {} in", rng.random_range(4..=48)),
                3 => format!(" {} ml", 50 * rng.random_range(1..=20)),
                4 => format!(" Size {}", ["S", "M", "L", "XL"][rng.random_range(0..4)]),
                _ => format!(" Set of {}", rng.random_range(2..=10)),
            };
            out.push_str(&size);
        }
    }

    /// products.tsv of drop `q`: products first existing in `q`, and earlier ones whose text
    /// changed in `q`.
    fn write_products(&self, q: usize) -> Result<Written> {
        let mut file = self.create(q, DropFile::Products)?;
        let mut title = String::new();
        for (id, product) in self.products.iter().enumerate() {
            let id = id as u32;
            let intro = usize::from(product.intro);
            let version = if intro == q {
                0
            } else if intro < q
                && unit(derive(
                    self.cfg.seed,
                    Stream::TextChange,
                    u64::from(id),
                    q as u64,
                )) < TEXT_CHANGE_SHARE
            {
                q
            } else {
                continue;
            };
            self.title(id, version, &mut title);
            let path = &self.paths[usize::from(product.group)][usize::from(product.leaf)];
            file.row(format_args!("{}\t{path}\t{title}", self.pid(id)))?;
        }
        file.finish()
    }

    /// views.tsv of drop `q`: Zipf in the product's rank among its sub-group's live products,
    /// with lognormal noise; products with no views are left out.
    fn write_views(&self, q: usize) -> Result<Written> {
        let live = &self.live[q - 1];
        let mut rank = vec![u32::MAX; self.products.len()];
        for g in 0..live.groups() {
            for (r, &id) in live.group(g).iter().enumerate() {
                rank[id as usize] = r as u32;
            }
        }
        let mut rng = stream(self.cfg.seed, Stream::Views, q as u64, 0);
        let mut file = self.create(q, DropFile::Views)?;
        for (id, &r) in rank.iter().enumerate() {
            if r == u32::MAX {
                continue;
            }
            let n = live.group(usize::from(self.products[id].group)).len();
            let popularity = (n as f64 / f64::from(r + 1)).powf(ZIPF_EXPONENT);
            let views = (VIEW_BASE * popularity * lognormal(&mut rng, VIEW_NOISE_SIGMA)) as u64;
            if views > 0 {
                file.row(format_args!("{}\t{views}", self.pid(id as u32)))?;
            }
        }
        file.finish()
    }

    /// high_demand.tsv of drop `q`, and the held-out truth for it outside the drop.
    fn write_high_demand(&self, q: usize) -> Result<Vec<Written>> {
        let pool = &self.high_demand[q - 1];
        let mut file = self.create(q, DropFile::HighDemand)?;
        let mut ids = pool.items.clone();
        ids.sort_unstable();
        for &id in &ids {
            file.row(format_args!("{}", self.pid(id)))?;
        }

        let path = self.out.join(format!("truth_q{q}.tsv"));
        let mut truth = Tsv::create(path, "seller_id\tproduct_id", false, q, "truth")?;
        // A seller wants high-demand products at DEMAND_LIFT times its rate for the catalogue.
        let rate = DEMAND_LIFT * pool.len() as f64 / self.listable.len() as f64;
        let cap = pool.len() / 2;
        let (mut seen, mut picks) = (HashSet::new(), Vec::new());
        for (i, s) in self.sellers.iter().enumerate() {
            if usize::from(s.start) > q {
                continue;
            }
            let mut rng = stream(self.cfg.seed, Stream::Truth, i as u64, q as u64);
            let count = stochastic_round(&mut rng, f64::from(s.listings) * rate).min(cap);
            s.sample(pool, count, &mut rng, &mut seen, &mut picks);
            picks.sort_unstable();
            for &p in &picks {
                truth.row(format_args!("{}\t{}", self.sid(i), self.pid(p)))?;
            }
        }
        Ok(vec![file.finish()?, truth.finish()?])
    }

    /// sellers.tsv of every drop: the sellers starting in it.
    fn write_sellers(&self) -> Result<Vec<Written>> {
        let mut files = (1..=self.cfg.quarters)
            .map(|q| self.create(q, DropFile::Sellers))
            .collect::<Result<Vec<_>>>()?;
        for (i, s) in self.sellers.iter().enumerate() {
            let mut rng = stream(self.cfg.seed, Stream::SellerName, i as u64, 0);
            let (category, group) = taxonomy(usize::from(s.focus));
            let suffix = SHOP_SUFFIXES.choose(&mut rng).expect("non-empty");
            let name = format!("{} {} {suffix}", pseudo_word(&mut rng), group.name);
            files[usize::from(s.start) - 1].row(format_args!(
                "{}\t{name}\t{}",
                self.sid(i),
                category.name
            ))?;
        }
        files.into_iter().map(Tsv::finish).collect()
    }
}

/// One popularity order per sub-group over all products: each kind keeps its own order, the
/// kinds interleave by rank quantile, and high-demand products are squeezed into the head.
fn merge_popularity(listable: &Pools, high_demand: &[Pools], aux: &Pools) -> Pools {
    let groups = listable.groups();
    let kinds: Vec<(&Pools, f64)> = std::iter::once((listable, 1.0))
        .chain(high_demand.iter().map(|p| (p, HIGH_DEMAND_HEAD)))
        .chain(std::iter::once((aux, 1.0)))
        .collect();
    let mut keyed: Vec<(f64, u32)> = Vec::new();
    let mut items = Vec::with_capacity(kinds.iter().map(|(p, _)| p.len()).sum());
    let mut offsets = Vec::with_capacity(groups + 1);
    offsets.push(0);
    for g in 0..groups {
        keyed.clear();
        for &(pool, head) in &kinds {
            let members = pool.group(g);
            let n = members.len() as f64;
            keyed.extend(
                members
                    .iter()
                    .enumerate()
                    .map(|(r, &id)| (head * (r as f64 + 0.5) / n, id)),
            );
        }
        keyed.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        items.extend(keyed.iter().map(|&(_, id)| id));
        offsets.push(items.len());
    }
    Pools { offsets, items }
}

/// Draws the sellers: start quarter, focus sub-groups (in proportion to catalogue size) and a
/// heavy-tailed listing count, scaled so the counts sum to exactly `cfg.listings`.
fn draw_sellers(cfg: &Config, listable: &Pools, rng: &mut Rng) -> Vec<Seller> {
    let all = 0..listable.groups();
    let mut sellers = Vec::with_capacity(cfg.sellers);
    let mut weights = Vec::with_capacity(cfg.sellers);
    for _ in 0..cfg.sellers {
        let start = intro_quarter(rng, NEW_SELLER_SHARE, cfg.quarters);
        let focus = listable
            .pick_group(rng, all.clone())
            .expect("listable products exist");
        let second = if rng.random_bool(TWO_FOCI_SHARE) {
            // Bounded: the catalogue may hold a single category.
            (0..MAX_TRIES)
                .filter_map(|_| listable.pick_group(rng, all.clone()))
                .find(|&g| category_of(g) != category_of(focus))
                .map(|g| g as u16)
        } else {
            None
        };
        sellers.push(Seller {
            start,
            focus: focus as u16,
            second,
            listings: 0,
        });
        weights.push(lognormal(rng, LISTINGS_SIGMA));
    }

    let cap = cfg.max_listings() as u64;
    let scale = cfg.listings as f64 / weights.iter().sum::<f64>();
    let mut counts: Vec<u64> = weights
        .iter()
        .map(|w| ((w * scale).round() as u64).clamp(1, cap))
        .collect();
    // Spread the rounding error one listing at a time; `from_args` ensured the total fits.
    let mut missing = cfg.listings as i64 - counts.iter().sum::<u64>() as i64;
    let mut i = 0;
    while missing != 0 {
        let n = counts.len();
        let c = &mut counts[i % n];
        if missing > 0 && *c < cap {
            *c += 1;
            missing -= 1;
        } else if missing < 0 && *c > 1 {
            *c -= 1;
            missing += 1;
        }
        i += 1;
    }
    for (seller, count) in sellers.iter_mut().zip(counts) {
        seller.listings = count as u32;
    }
    sellers
}

/// File order in the per-drop summary line.
const SUMMARY_ORDER: [&str; 7] = [
    "products",
    "sellers",
    "listings",
    "copurchases",
    "views",
    "high_demand",
    "truth",
];

/// Builds the world, writes all files in parallel, then the `_READY` markers.
fn main() -> Result<()> {
    let args = Args::parse();
    let cfg = Config::from_args(&args)?;
    let started = Instant::now();
    let world = World::build(cfg, args.out)?;
    world.prepare_dirs()?;

    let quarters = world.cfg.quarters;
    // Heaviest first, so the two busiest tasks start together.
    let mut tasks = vec![Task::Listings];
    tasks.extend((1..=quarters).map(Task::Copurchases));
    tasks.extend((1..=quarters).map(Task::Products));
    tasks.extend((1..=quarters).map(Task::Views));
    tasks.extend((1..=quarters).map(Task::HighDemand));
    tasks.push(Task::Sellers);
    let written: Vec<Written> = tasks
        .into_par_iter()
        .with_max_len(1)
        .map(|task| world.run(task))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();

    // Markers last: a watcher may start ingesting a drop as soon as its marker appears.
    for q in 1..=quarters {
        let marker = world.drop_dir(q).join("_READY");
        File::create(&marker).with_context(|| format!("creating {}", marker.display()))?;
        let mut files: Vec<&Written> = written.iter().filter(|w| w.quarter == q).collect();
        files.sort_by_key(|w| SUMMARY_ORDER.iter().position(|&l| l == w.label));
        let counts: Vec<String> = files
            .iter()
            .map(|w| format!("{} {}", w.label, w.rows))
            .collect();
        eprintln!("{}: {}", world.drop_dir(q).display(), counts.join(", "));
    }
    eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
